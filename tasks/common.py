"""What every task shares: references, retry and cache policies, the store, digests."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.tasks import Task

import storage
from lightrnn.errors import LightRNNError
from storage.errors import StoreConnectionError, StoreError


@dataclass(frozen=True)
class Ref:
    """A committed artifact version: what tasks pass to each other."""

    name: str
    version: int
    uri: str = ""

    def __str__(self) -> str:
        return f"{self.name}@v{self.version:06d}"

    @classmethod
    def of(cls, version: Any) -> Ref:
        """From a `storage.Version`."""
        return cls(version.name, version.number, version.uri)


def code_version() -> str:
    try:
        return metadata.version("lightrnn-flow")
    except metadata.PackageNotFoundError:
        return "dev"


# Prefect's own cache is a local speed-up on top of the store: same inputs, same task source,
# same package version -> the persisted small reference is reused without touching the store.
CACHE: CachePolicy = (
    INPUTS + TASK_SOURCE + CachePolicy.from_cache_key_fn(lambda _context, _params: code_version())
)


def retry_on_io(_task: Task, _run: TaskRun, state: State) -> bool:
    """Retry what a retry can fix (a flaky store or network), never bad input or divergence."""
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:
            exc = raised
    if isinstance(exc, StoreConnectionError):
        return True
    return not isinstance(exc, LightRNNError | StoreError | MemoryError)


IO_RETRIES: dict[str, Any] = {
    "retries": 2,
    "retry_delay_seconds": [2, 10],
    "retry_condition_fn": retry_on_io,
}


def digest(*parts: Any) -> str:
    """A short, stable name for a combination of inputs (JSON-able parts)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def open_store(url: str) -> storage.Store:
    return storage.open_store(url)


def find(store: storage.Store, name: str) -> Ref | None:
    """The latest committed version of `name`, or None: the store says what is already done."""
    if not store.exists(name):
        return None
    return Ref.of(store.resolve(name, "latest"))
