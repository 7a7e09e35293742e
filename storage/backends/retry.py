"""Retrying transient failures: exponential backoff within a time budget, then a clear error.

Only `StoreUnavailableError` (endpoint unreachable, timeouts, 5xx, SlowDown) is retried: it is
the one error that waiting can fix. Auth, not-found, bad input and integrity errors, and every
other exception, go to the caller at once. Each backend operation is one attempt, and it is
idempotent (a write or delete repeated is the same write or delete; a create repeated is told
apart from a lost race by reading the object back, see `Objects.create`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from storage.errors import InvalidInputError, StoreUnavailableError
from storage.redact import get_logger

log = get_logger(__name__)
T = TypeVar("T")

DEFAULT_RETRY_SECONDS = 90.0  # rides out a server restart or a short network outage


@dataclass(frozen=True)
class RetryPolicy:
    """How long, and how often, one store operation is retried while the store is unavailable."""

    budget_seconds: float = DEFAULT_RETRY_SECONDS  # give up once this much time has passed
    first_delay: float = 0.25  # seconds before the first retry; doubles each time
    max_delay: float = 5.0  # cap on one wait, so recovery is noticed within seconds

    def __post_init__(self) -> None:
        if not self.budget_seconds >= 0:  # also rejects NaN
            raise InvalidInputError(
                f"retry_seconds={self.budget_seconds!r}: pass a number of seconds >= 0 "
                f"(0 tries once; default {DEFAULT_RETRY_SECONDS:g})"
            )

    def run(self, attempt: Callable[[], T], what: str) -> T:
        """attempt(), retried on StoreUnavailableError until the budget is spent (no attempt
        starts after it, so the error comes at most one attempt's duration later)."""
        started = time.monotonic()
        delay, tries = self.first_delay, 0
        while True:
            tries += 1
            try:
                return attempt()
            except StoreUnavailableError as exc:
                elapsed = time.monotonic() - started
                left = self.budget_seconds - elapsed
                if left <= 0:
                    if self.budget_seconds == 0:
                        raise  # asked to try once: the error as it came
                    raise StoreUnavailableError(
                        f"{exc} (retried for {elapsed:.1f} s, {tries} attempt(s); the store "
                        f"retries for {self.budget_seconds:g} s: set LIGHTRNN_STORE_RETRY_SECONDS "
                        "(or open_store's retry_seconds) higher to ride out longer outages)"
                    ) from exc
                wait = min(delay * random.uniform(0.8, 1.2), self.max_delay, left)
                log.warning("%s unavailable, retrying in %.1f s: %s", what, wait, exc)
                time.sleep(wait)
                delay = min(delay * 2, self.max_delay)
