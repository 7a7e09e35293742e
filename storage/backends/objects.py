"""Object access under a store's root: the few primitives the commit protocol needs.

Each backend gives the same guarantees on top of fsspec:
- `write` and `upload` are all-or-nothing: a reader never sees half an object;
- `create` is create-only and atomic: of two racing writers exactly one wins (the commit point);
- `upload` streams from a local file, never holding it whole in memory;
- `list`, `read` and `size` see every write and delete that finished before they started
  (strong read-after-write and list-after-write consistency; the commit/gc protocol in
  `markers.py` relies on it: local files and memory have it, and so do AWS S3 and SeaweedFS).
Every operation is one attempt retried by the backend's `RetryPolicy` while the store is
unavailable (only S3 has such failures). Local files: `local.py`; S3: `s3.py`; memory:// here.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from fsspec import AbstractFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from storage.backends.retry import RetryPolicy
from storage.errors import StoreAuthError, StoreError

CHUNK = 8 * 2**20  # bytes per streamed read or upload part
T = TypeVar("T")


@dataclass(frozen=True)
class Entry:
    """An object found by `list`: its key, size and last-modified time (seconds since epoch)."""

    key: str
    size: int
    mtime: float


class Objects:
    """Keys -> bytes under one root of an fsspec filesystem (generic part, used by memory://)."""

    def __init__(
        self, fs: AbstractFileSystem, root: str, url: str, retry: RetryPolicy | None = None
    ) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")  # for messages: never holds credentials
        self.retry = retry if retry is not None else RetryPolicy(budget_seconds=0)

    # -- addressing -------------------------------------------------------------------------
    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def where(self, key: str) -> str:
        """Human URL of `key`, for messages."""
        return f"{self.url}/{key}"

    def key_of(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    # -- errors and retries -----------------------------------------------------------------
    @contextlib.contextmanager
    def errors(self, key: str = "") -> Iterator[None]:
        """Turn backend failures into StoreErrors; a missing key stays FileNotFoundError."""
        try:
            yield
        except (FileNotFoundError, StoreError):
            raise
        except PermissionError as exc:
            raise StoreAuthError(
                f"no permission to access {self.where(key)} ({exc.strerror or exc}): fix the "
                "permissions of the store's directory or open a store you can write to"
            ) from exc
        except OSError as exc:
            raise StoreError(
                f"cannot access {self.where(key)} ({type(exc).__name__}: {exc}): check that the "
                "store's location is available and has free space, then retry"
            ) from exc

    def call(self, key: str, operation: Callable[[], T]) -> T:
        """operation(), its failures translated by `errors`, retried while unavailable."""

        def attempt() -> T:
            with self.errors(key):
                return operation()

        return self.retry.run(attempt, self.where(key))

    def probe(self) -> None:
        """Fail early, with a clear error, when the store cannot be used at all."""

    # -- reads ------------------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """The bytes at `key`; FileNotFoundError when it does not exist."""
        return self.call(key, lambda: self.fs.cat_file(self.path(key)))

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """{key: bytes, or None when missing}, fetched concurrently where the backend can."""
        keys = list(keys)
        if not keys:
            return {}

        def fetch() -> dict[str, bytes | None]:
            found = self.fs.cat([self.path(k) for k in keys], on_error="return")
            out: dict[str, bytes | None] = {}
            for key in keys:
                value = found.get(self.path(key))
                if isinstance(value, FileNotFoundError) or value is None:
                    out[key] = None
                elif isinstance(value, BaseException):
                    raise value
                else:
                    out[key] = value
            return out

        return self.call(keys[0], fetch)

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """A stream of the bytes at `key`, read in CHUNK-sized requests (one attempt: the
        caller retries the whole download, see `Cache.blob`)."""
        with self.errors(key), self.fs.open(self.path(key), "rb", cache_type="none") as f:
            yield f

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at `key`, or None when there is none."""

        def info() -> int | None:
            try:
                return int(self.fs.info(self.path(key))["size"])
            except FileNotFoundError:
                return None

        return self.call(key, info)

    def list(self, prefix: str, recursive: bool = True) -> list[Entry]:
        """Objects whose keys start with the directory `prefix` ('refs/a/'), sorted by key."""
        path = self.path(prefix.rstrip("/"))

        def infos() -> Iterable[dict[str, Any]]:
            try:
                if recursive:
                    return self.fs.find(path, detail=True).values()
                return self.fs.ls(path, detail=True)
            except FileNotFoundError:
                return []

        entries = [
            Entry(self.key_of(self.fs._strip_protocol(i["name"])), int(i["size"]), _mtime(i))
            for i in self.call(prefix, infos)
            if i.get("type") == "file"
        ]
        return sorted(entries, key=lambda e: e.key)

    # -- writes -----------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing what was there, all at once."""
        self.call(key, lambda: self.fs.pipe_file(self.path(key), data))

    def create(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` only if nothing is there; False when another writer was first.

        A refused create reads the object back: if it holds exactly `data`, it is this writer's
        own earlier attempt (its reply was lost and the request retried), so it counts as won.
        Every create-only record carries a time stamp or a random token, so two writers never
        create the same bytes by chance."""

        def once() -> bool:
            if self.create_once(key, data):
                return True
            try:
                return self.fs.cat_file(self.path(key)) == data
            except FileNotFoundError:  # deleted since (gc): the caller moves on, as for a loss
                return False

        return self.call(key, once)

    def create_once(self, key: str, data: bytes) -> bool:
        """One create-only attempt (called inside `errors`): False when the key exists."""
        with _MEMORY_LOCK:
            if self.fs.exists(self.path(key)):
                return False
            self.fs.pipe_file(self.path(key), data)
            return True

    def upload(self, key: str, local: Path, size: int) -> None:
        """Stream the local file to `key`; visible only once complete."""
        self.call(key, lambda: self.fs.put_file(str(local), self.path(key)))

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the objects at `keys`; missing ones are fine (another gc got there first)."""
        for key in keys:
            self.call(key, lambda key=key: self._remove(key))

    def _remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self.path(key))

    def sweep(
        self, grace_cutoff: float, stale_cutoff: float, busy: set[str], dry_run: bool
    ) -> list[str]:
        """Remove what killed writers left (temporary files, multipart uploads): anything older
        than `stale_cutoff` (epoch s), or older than `grace_cutoff` and provably not in use
        (`busy`: keys that commits in flight write). Returns what was (or would be) removed."""
        return []


# memory:// lives in one process-wide dict, so one lock makes `create` atomic for all stores.
_MEMORY_LOCK = threading.Lock()


class MemoryObjects(Objects):
    """memory:// (tests, notebooks): process-wide, gone when the process exits."""

    def __init__(self, root: str, url: str) -> None:
        super().__init__(MemoryFileSystem(skip_instance_cache=True), root, url)


def _mtime(info: dict[str, Any]) -> float:
    """Last-modified time of an fsspec info dict, whichever backend produced it."""
    for field in ("mtime", "LastModified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return time.time()  # unknown: treat as brand new, so gc's grace period protects it
