"""The store's domain errors: each message names the store URL or artifact and says what to do.

Every error derives from `StoreError`, so the CLI can print it as one line without a traceback.
Messages pass through `redact` (storage/redact.py), so a credential that leaks into a server's
error text (or an exception we wrap) never reaches a log or a terminal.

`transient` tells a caller whether waiting could help: only `StoreUnavailableError` (endpoint
down or overloaded, timeouts, 5xx, SlowDown) is transient, and the store has already retried it
for its `retry_seconds` before raising it. Auth, not-found, bad input and integrity errors are
permanent and raised at once.
"""

from __future__ import annotations

from storage.redact import redact

__all__ = [
    "ConflictError",
    "IntegrityError",
    "InvalidInputError",
    "LeaseHeldError",
    "LeaseLostError",
    "NotFoundError",
    "StoreAuthError",
    "StoreConnectionError",
    "StoreError",
    "StoreUnavailableError",
    "redact",
]


class StoreError(Exception):
    """Base class for every error the store raises on purpose."""

    transient = False  # True only where retrying later may succeed

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class InvalidInputError(StoreError, ValueError):
    """A name, alias, ref, URL, path or meta value that the store cannot accept as given."""


class NotFoundError(StoreError, LookupError):
    """An artifact name, version or alias that the store does not hold."""


class IntegrityError(StoreError):
    """Stored bytes or records that do not match their digest, size or format: never handed out."""


class StoreConnectionError(StoreError):
    """The store cannot be reached: endpoint down, bucket missing, local root unusable."""


class StoreUnavailableError(StoreConnectionError):
    """A failure that may pass: endpoint unreachable, timeout, 5xx, throttling (SlowDown)."""

    transient = True


class StoreAuthError(StoreError):
    """The store refused the credentials (wrong, missing, expired, or lacking permission)."""


class ConflictError(StoreError):
    """A commit could not claim a version number after many tries (heavy contention)."""


class LeaseHeldError(StoreError):
    """Another owner holds the lease; `holder` (a `storage.coordination.lease.LeaseHolder`)
    says who, where, and until when."""

    def __init__(self, message: str, holder: object | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class LeaseLostError(StoreError):
    """A lease this process held has expired or was taken over: stop the work it guarded."""
