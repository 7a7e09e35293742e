"""What every task shares: references, retry and cache policies, the store, digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State
from prefect.tasks import Task
from prefect.utilities.hashing import hash_objects

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


@dataclass
class StoreBackedCache(CachePolicy):
    """Prefect's cache as a speed-up on top of the store, never instead of it.

    The key is inputs + task source + package version + the digest of the task's output as the
    store holds it now; with no output in the store there is no key, so the task runs. A wiped
    or garbage-collected store can never be papered over by a stale cached reference.
    """

    output_name: Callable[[dict[str, Any]], str] = field(default=lambda _: "")

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        try:
            store = open_store(inputs["store_url"])
            name = self.output_name(inputs)
            if not store.exists(name):
                return None
            output = store.resolve(name, "latest").digest
        except Exception:
            return None
        base = (INPUTS + TASK_SOURCE).compute_key(task_ctx, inputs, flow_parameters, **kwargs)
        return hash_objects(base, code_version(), name, output)


def cached(output_name: Callable[[dict[str, Any]], str]) -> dict[str, Any]:
    """Task options: persisted results, cached while `output_name(params)` is in the store."""
    return {"cache_policy": StoreBackedCache(output_name=output_name), "persist_result": True}
