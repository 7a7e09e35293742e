"""Versioned, content-addressed artifact store on fsspec (DESIGN section 5).

    store = storage.open_store("s3://bucket/prefix")   # or file:///..., memory://..., None
    v = store.put("corpus/ab12cd/shards", "out/shards", meta={...}, parents=[vocab.ref])
    path = store.get("corpus/ab12cd/shards")            # verified local copy

Knows nothing of models: no torch, no Prefect, no lightrnn imports, and nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from storage.cache import Cache
from storage.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StoreAuthError,
    StoreConnectionError,
    StoreError,
)
from storage.gc import GcReport
from storage.store import Store
from storage.urls import default_cache_dir, default_store_url, open_objects
from storage.version import Version


def open_store(url: str | None = None, cache_dir: str | Path | None = None) -> Store:
    """The store at `url` (default: `default_store_url()`), checked reachable before use."""
    objects = open_objects(url if url is not None else default_store_url())
    objects.probe()
    return Store(objects, Cache(Path(cache_dir) if cache_dir is not None else default_cache_dir()))


__all__ = [
    "ConflictError",
    "GcReport",
    "IntegrityError",
    "InvalidInputError",
    "NotFoundError",
    "Store",
    "StoreAuthError",
    "StoreConnectionError",
    "StoreError",
    "Version",
    "default_cache_dir",
    "default_store_url",
    "open_store",
]
