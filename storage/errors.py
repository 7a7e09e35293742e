"""The store's domain errors: each message names the store URL or artifact and says what to do.

Every error derives from `StoreError`, so the CLI can print it as one line without a traceback.
Messages pass through `redact`, so a credential that leaks into a server's error text (or an
exception we wrap) never reaches a log or a terminal.
"""

from __future__ import annotations

import os
import re

# Environment variables whose values must never appear in a message.
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID")
_USERINFO = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with credentials (from the environment or `scheme://user:pass@`) replaced by ***."""
    text = _USERINFO.sub(r"\g<scheme>***@", text)
    for var in _SECRET_ENV:
        value = os.environ.get(var, "")
        if len(value) >= 4:  # a 1-3 character "secret" would redact ordinary words
            text = text.replace(value, "***")
    return text


class StoreError(Exception):
    """Base class for every error the store raises on purpose."""

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


class StoreAuthError(StoreError):
    """The store refused the credentials (wrong, missing, expired, or lacking permission)."""


class ConflictError(StoreError):
    """A commit could not claim a version number after many tries (heavy contention)."""
