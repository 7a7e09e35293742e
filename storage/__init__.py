"""Versioned, content-addressed artifact store on fsspec (docs/design.md#the-artifact-store).

    storage.init_store("s3://bucket/prefix")            # once: `lightrnn store init URL`
    store = storage.open_store("s3://bucket/prefix")   # or file:///..., memory://..., None
    v = store.put("corpus/ab12cd/shards", "out/shards", meta={...}, parents=[vocab.ref])
    path = store.get("corpus/ab12cd/shards")            # verified local copy
    store.retract("runs/r1/checkpoint", 7, "loss diverged")   # latest now skips v7
    with store.acquire_lease("runs/r1", owner="run-r1", ttl_seconds=60):
        ...                                             # no second run of r1 meanwhile

Knows nothing of models: no torch, no Prefect, no lightrnn imports, and nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from storage.backends.retry import DEFAULT_RETRY_SECONDS, RetryPolicy
from storage.backends.urls import (
    default_cache_dir,
    default_retry_seconds,
    default_store_url,
    open_objects,
)
from storage.cache import Cache
from storage.coordination.gc import GcReport
from storage.coordination.lease import Lease, LeaseHolder
from storage.coordination.markers import Timings
from storage.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    LeaseHeldError,
    LeaseLostError,
    NotFoundError,
    StoreAuthError,
    StoreConnectionError,
    StoreError,
    StoreUnavailableError,
)
from storage.records.version import Retraction, Version
from storage.redact import redact_url
from storage.root import Outcome, ensure_root, init_root, require_root
from storage.store import Store


def open_store(
    url: str | None = None,
    cache_dir: str | Path | None = None,
    retry_seconds: float | None = None,
    timings: Timings | None = None,
    create: bool = False,
) -> Store:
    """The store at `url` (default: `default_store_url()`), checked reachable before use.

    The store must exist (`init_store`, or `lightrnn store init URL`): a URL with no store
    raises StoreConnectionError naming it and the fix, so a typo never starts a new, empty
    store. The default store, memory:// stores and `create=True` are created on first use.

    While the store is unavailable (S3 endpoint down, timeouts, 5xx, SlowDown), each operation
    is retried with exponential backoff for up to `retry_seconds` (default
    $LIGHTRNN_STORE_RETRY_SECONDS, else 90; 0 tries once), then raises StoreUnavailableError.
    An endpoint this process never reached fails at once.
    `timings`: clocks of the commit/gc protocol and of leases (tests shorten them)."""
    if retry_seconds is None:
        retry_seconds = default_retry_seconds(DEFAULT_RETRY_SECONDS)
    retry = RetryPolicy(budget_seconds=retry_seconds)
    default = default_store_url()
    objects = open_objects(url if url is not None else default, retry=retry)
    objects.probe()
    if create or objects.url == default or objects.url.startswith("memory://"):
        ensure_root(objects)
    else:
        require_root(objects, default)
    cache = Cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return Store(objects, cache, timings)


def init_store(url: str, retry_seconds: float | None = None) -> Outcome:
    """Make `url` a store (idempotent): 'created', 'found' (it already was one) or 'marked' (a
    store made before store.json, now given one)."""
    if retry_seconds is None:
        retry_seconds = default_retry_seconds(DEFAULT_RETRY_SECONDS)
    objects = open_objects(url, retry=RetryPolicy(budget_seconds=retry_seconds))
    objects.probe()
    return init_root(objects)


__all__ = [
    "DEFAULT_RETRY_SECONDS",
    "ConflictError",
    "GcReport",
    "IntegrityError",
    "InvalidInputError",
    "Lease",
    "LeaseHeldError",
    "LeaseHolder",
    "LeaseLostError",
    "NotFoundError",
    "Retraction",
    "Store",
    "StoreAuthError",
    "StoreConnectionError",
    "StoreError",
    "StoreUnavailableError",
    "Timings",
    "Version",
    "default_cache_dir",
    "default_store_url",
    "init_store",
    "open_store",
    "redact_url",
]
