"""The sim provider: a local HTTP service rendering real short MP4s, for development and the quick start."""
