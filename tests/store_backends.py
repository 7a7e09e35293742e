"""The store backends every store test runs on: memory://, file:// and a real S3 (SeaweedFS,
started by the `s3_store_url` fixture and marked `s3`). The `store_url` fixture in conftest.py
gives one empty store per backend; tests that need several processes (no memory://) call
`url_for` with their own parameters."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import storage

STORE_BACKENDS = ["memory", "file", pytest.param("s3", marks=pytest.mark.s3)]
SHARED_BACKENDS = ["file", pytest.param("s3", marks=pytest.mark.s3)]  # seen by other processes


def new_store(url: str) -> str:
    """`url`, made a store (`lightrnn store init`): a store URL that holds no store is refused."""
    storage.init_store(url)
    return url


def url_for(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """An empty store's URL on `backend` ("memory", "file" or "s3")."""
    if backend == "memory":
        return f"memory://test-{uuid.uuid4().hex[:8]}"
    if backend == "file":
        return (tmp_path / "store").as_uri()
    assert backend == "s3", backend
    return request.getfixturevalue("s3_store_url")
