"""StorageService: the only code that touches the bucket (GCS via google-cloud-storage)."""
