"""The one way a task works: find its output in the store, or compute it and commit it.

    @store_task(name="evaluate", output=lambda p: names.evaluation(p["model_ref"], p["split"]),
                found=lambda store, version: version.meta)
    def evaluate_task(out: Output, store_url: str, model_ref: Ref, split: str) -> dict: ...

The task's parameters are the body's after `out`; `output(params)` names the artifact the task
makes. When the store holds it (its newest version that is not retracted), the task returns
`found(store, version)` without running the body; otherwise the body gets `out` (the open store
and the name) and commits. So the store decides what is done, on any machine; Prefect's own
cache, keyed on the output's digest in the store, only saves the lookup. Results are persisted
as JSON, never pickled. Retries are for transient failures (a store or network outage), never
for bad input, divergence, out-of-memory or programming errors.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.cache_policies import INPUTS, TASK_SOURCE, CachePolicy
from prefect.client.schemas.objects import TaskRun
from prefect.context import TaskRunContext
from prefect.states import State
from prefect.tasks import Task
from prefect.utilities.hashing import hash_objects

import storage
from storage.errors import NotFoundError
from tasks.refs import Ref

T = TypeVar("T")
Params = dict[str, Any]


def code_version() -> str:
    try:
        return metadata.version("lightrnn-flow")
    except metadata.PackageNotFoundError:
        return "dev"


def open_store(url: str) -> storage.Store:
    """The run's store; transient failures are retried for $LIGHTRNN_STORE_RETRY_SECONDS
    (default 90 s) before the task fails (and Prefect retries it once, 20 s later)."""
    return storage.open_store(url)


def find(store: storage.Store, name: str) -> Ref | None:
    """The newest committed, not retracted version of `name`, or None."""
    if not store.exists(name):
        return None
    try:
        return Ref.of(store.resolve(name, "latest"))
    except NotFoundError:  # every version retracted
        return None


def is_transient(exc: BaseException | None) -> bool:
    """A failure a later attempt may not meet: the store or the network was unavailable."""
    return isinstance(exc, ConnectionError | TimeoutError) or bool(getattr(exc, "transient", False))


def retry_on_transient(_task: Task, _run: TaskRun, state: State) -> bool:
    exc = state.data if isinstance(state.data, BaseException) else None
    if exc is None:
        try:
            state.result(raise_on_failure=True)
        except BaseException as raised:
            exc = raised
    return is_transient(exc)


RETRIES: dict[str, Any] = {
    "retries": 1,
    "retry_delay_seconds": 20,  # after the store's own retries with backoff
    "retry_condition_fn": retry_on_transient,
}


@dataclass
class StoreBackedCache(CachePolicy):
    """Prefect's cache as a speed-up on top of the store, never instead of it: the key holds
    the digest of the task's output as the store holds it now, so a wiped, collected or
    retracted output is recomputed, not papered over by a stale cached reference."""

    output: Callable[[Params], str] = field(default=lambda _: "")
    store_of: Callable[[Params], str] = field(default=lambda p: p["store_url"])

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        try:
            store = open_store(self.store_of(inputs))
            name = self.output(inputs)
            found = find(store, name)
            if found is None:
                return None
            output = store.resolve(name, found.version).digest
        except Exception:
            return None
        base = (INPUTS + TASK_SOURCE).compute_key(task_ctx, inputs, flow_parameters, **kwargs)
        return hash_objects(base, code_version(), name, output)


@dataclass(frozen=True)
class Output:
    """Where a task's body commits: the open store and its output's name."""

    store: storage.Store
    name: str

    def put(self, path: Any, kind: str, meta: dict[str, Any], parents: Sequence[Ref | str]) -> Ref:
        version = self.store.put(
            self.name, path, meta=meta, parents=[str(p) for p in parents], kind=kind
        )
        return Ref.of(version)

    def put_bytes(
        self,
        filename: str,
        data: bytes,
        kind: str,
        meta: dict[str, Any],
        parents: Sequence[Ref | str],
    ) -> Ref:
        version = self.store.put_bytes(
            self.name, filename, data, meta=meta, parents=[str(p) for p in parents], kind=kind
        )
        return Ref.of(version)


def store_task(
    name: str,
    output: Callable[[Params], str],
    found: Callable[[storage.Store, Ref], T],
    store_of: Callable[[Params], str] = lambda p: p["store_url"],
    **options: Any,
) -> Callable[[Callable[..., T]], Task[..., T]]:
    """A Prefect task around `body(out, ...)` that skips what the store holds; the store's URL
    is the `store_url` parameter unless `store_of` says where it is."""

    def decorate(body: Callable[..., T]) -> Task[..., T]:
        signature = inspect.signature(body)
        public = signature.replace(parameters=list(signature.parameters.values())[1:])

        @functools.wraps(body)
        def run(*args: Any, **kwargs: Any) -> T:
            bound = public.bind(*args, **kwargs)
            bound.apply_defaults()
            store = open_store(store_of(bound.arguments))
            artifact = output(bound.arguments)
            existing = find(store, artifact)
            if existing is not None:
                get_run_logger().info("%s: already in the store as %s", name, existing)
                return found(store, existing)
            return body(Output(store, artifact), *bound.args, **bound.kwargs)

        run.__signature__ = public  # type: ignore[attr-defined]  # what Prefect binds against
        return task(
            name=name,
            cache_policy=StoreBackedCache(output=output, store_of=store_of),
            persist_result=True,
            result_serializer="json",
            **{**RETRIES, **options},
        )(run)

    return decorate


def the_ref(_store: storage.Store, ref: Ref) -> Ref:
    """`found` for tasks whose result is the reference itself."""
    return ref
