"""What makes a URL a store: the record `store.json` at its root, so that a typo is refused.

A store exists when its root holds `store.json`, written once (create-only, atomic) by
`init_root` (`lightrnn store init URL`), or, for stores made before that record existed, when
its root already holds the layout (refs/, blobs/ or manifests/). Anything else is no store:
opening it fails with the URL and the fix, instead of starting a new, empty store there and
silently retraining everything into it. The default local store and memory:// stores (one
process's, gone when it exits) are created on first use instead.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from storage.backends.objects import Objects
from storage.errors import IntegrityError, StoreConnectionError, StoreError

MARKER = "store.json"
FORMAT = "lightrnn-flow store"
FORMAT_VERSION = 1  # the layout of layout.py; a newer store is refused, not misread
LAYOUT = ("refs", "blobs", "manifests")  # what a store made before store.json holds

Outcome = Literal["created", "found", "marked"]

# Roots this process has seen exist: a store is not un-made under a running process, and an
# S3 store would otherwise pay a request for the record on every `open_store`.
_KNOWN: set[str] = set()
_KNOWN_LOCK = threading.Lock()


def root_record(now: datetime | None = None) -> bytes:
    """The bytes of a new `store.json`: format, version, when it was made, and a random id (so
    two racing inits never write the same bytes: `create` would count both as won)."""
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    record = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": created,
        "store_id": uuid.uuid4().hex,
    }
    return (json.dumps(record, sort_keys=True, indent=1) + "\n").encode()


def read_root(objects: Objects) -> dict[str, Any] | None:
    """The store's `store.json`, checked; None when the root has none."""
    try:
        data = objects.read(MARKER)
    except FileNotFoundError:
        return None
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise IntegrityError(
            f"{objects.where(MARKER)} is not a lightrnn-flow store record: this URL holds "
            "something else; open a store URL of its own (a new directory or prefix)"
        )
    version = record.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise StoreError(
            f"store {objects.url} has format version {version!r}, newer than this "
            f"lightrnn-flow reads ({FORMAT_VERSION}): upgrade lightrnn-flow to use it"
        )
    return record


def has_layout(objects: Objects) -> bool:
    """True when the root already holds a store's folders (a store made before store.json)."""

    def top() -> list[str]:
        try:
            return list(objects.fs.ls(objects.root, detail=False))
        except FileNotFoundError:
            return []

    names = {str(path).rstrip("/").rpartition("/")[2] for path in objects.call("", top)}
    return any(name in names for name in LAYOUT)


def init_root(objects: Objects) -> Outcome:
    """Make the root a store: 'created' (new), 'found' (it was one), or 'marked' (a store made
    before store.json, now given one). Safe to repeat, and to race: one writer creates."""
    if read_root(objects) is not None:
        outcome: Outcome = "found"
    else:
        legacy = has_layout(objects)
        if objects.create(MARKER, root_record()):
            outcome = "marked" if legacy else "created"
        else:  # another init won the race; check what it wrote
            read_root(objects)
            outcome = "found"
    _remember(objects)
    return outcome


def ensure_root(objects: Objects) -> None:
    """Make the root a store unless this process already saw it is one (first use creates)."""
    if objects.url not in _KNOWN:
        init_root(objects)


def require_root(objects: Objects, default_url: str) -> None:
    """Fail, naming the URL and the fix, unless the root is a store (see the module's doc)."""
    if objects.url in _KNOWN:
        return
    if read_root(objects) is None and not has_layout(objects):
        raise StoreConnectionError(
            f"no store at {objects.url}: it has no {MARKER} (check the URL for a typo); create "
            f"it with `lightrnn store init {objects.url}`, or use the default local store "
            f"{default_url} (no --store), which is created on first use"
        )
    _remember(objects)


def _remember(objects: Objects) -> None:
    with _KNOWN_LOCK:
        _KNOWN.add(objects.url)
