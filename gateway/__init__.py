"""The HTTP gateway: the public JSON API, translated into gRPC calls."""
