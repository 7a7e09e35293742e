"""Pytest plugin: a real S3 server (SeaweedFS) for the tests. Filled in by the storage work."""
