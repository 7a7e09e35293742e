"""Shared test set-up. Fixtures for the real S3 server live in s3_server.py (a plugin)."""

pytest_plugins = ["s3_server"]
