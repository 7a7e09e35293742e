"""The run lease: one process at a time trains a given run (same corpus, settings and table).

A second identical run waits up to `wait_minutes` for the lease, logging who holds it, then
exits with a message naming the holder. The holder renews the lease in the background; if it
dies, the lease lapses after `lease_seconds` and the next run takes over (and resumes from the
checkpoints).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from typing import Any

from prefect import get_run_logger
from prefect.context import FlowRunContext

from lightrnn.errors import LightRNNError
from storage.errors import LeaseHeldError
from tasks import names
from tasks.store_task import open_store

POLL_SECONDS = 15.0


class RunBusyError(LightRNNError):
    """The same run is being trained elsewhere (and waiting for it was not asked, or too long)."""


def owner() -> str:
    """Who we are, for the lease record and for the message the other run prints."""
    ctx = FlowRunContext.get()
    run = f" (flow run {ctx.flow_run.name})" if ctx and ctx.flow_run else ""
    return f"{socket.gethostname()} pid {os.getpid()}{run}"


@contextlib.contextmanager
def run_lease(
    store_url: str, run_key: str, lease_seconds: float, wait_minutes: float
) -> Iterator[Any]:
    """Hold the lease of run `run_key` for the duration of the block."""
    store, logger = open_store(store_url), get_run_logger()
    deadline = time.monotonic() + 60.0 * wait_minutes
    while True:
        try:
            lease = store.acquire_lease(names.run(run_key), owner(), lease_seconds)
            break
        except LeaseHeldError as exc:
            if time.monotonic() >= deadline:
                raise RunBusyError(
                    f"run {run_key} is being trained by another process: {exc}. Wait for it "
                    "(its results will be reused), or pass --set pipeline.wait_minutes=N to wait"
                ) from exc
            logger.info("run %s is held by another process (%s); waiting", run_key, exc)
            time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.1)))
    with lease:
        yield lease
