"""Object access under a store's root: the few primitives the commit protocol needs.

Each backend gives the same guarantees on top of fsspec:
- `write` and `upload` are all-or-nothing: a reader never sees half an object;
- `create` is create-only and atomic: of two racing writers exactly one wins (the commit point);
- `upload` streams from a local file, never holding it whole in memory.
Local files get them from `os.link`/`os.replace` of a temporary file (fsspec's local
`mode="create"` is not atomic); memory:// from a process-wide lock; S3 from `s3.py`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from fsspec import AbstractFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.implementations.memory import MemoryFileSystem

from storage.errors import StoreAuthError, StoreConnectionError, StoreError

CHUNK = 8 * 2**20  # bytes per streamed read or upload part
TMP = ".tmp/"  # local backend: staging area for atomic writes, swept by gc


@dataclass(frozen=True)
class Entry:
    """An object found by `list`: its key, size and last-modified time (seconds since epoch)."""

    key: str
    size: int
    mtime: float


class Objects:
    """Keys -> bytes under one root of an fsspec filesystem (generic part, used by memory://)."""

    def __init__(self, fs: AbstractFileSystem, root: str, url: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url.rstrip("/")  # for messages: never holds credentials

    # -- addressing -------------------------------------------------------------------------
    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def where(self, key: str) -> str:
        """Human URL of `key`, for messages."""
        return f"{self.url}/{key}"

    def key_of(self, path: str) -> str:
        return path[len(self.root) + 1 :] if path.startswith(self.root + "/") else path

    # -- errors -----------------------------------------------------------------------------
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

    def probe(self) -> None:
        """Fail early, with a clear error, when the store cannot be used at all."""

    # -- reads ------------------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        """The bytes at `key`; FileNotFoundError when it does not exist."""
        with self.errors(key):
            return self.fs.cat_file(self.path(key))

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        """{key: bytes, or None when missing}, fetched concurrently where the backend can."""
        keys = list(keys)
        if not keys:
            return {}
        with self.errors(keys[0]):
            found = self.fs.cat([self.path(k) for k in keys], on_error="return")
        out: dict[str, bytes | None] = {}
        for key in keys:
            value = found.get(self.path(key))
            if isinstance(value, FileNotFoundError) or value is None:
                out[key] = None
            elif isinstance(value, BaseException):
                with self.errors(key):
                    raise value
            else:
                out[key] = value
        return out

    @contextlib.contextmanager
    def open_read(self, key: str) -> Iterator[BinaryIO]:
        """A stream of the bytes at `key`, read in CHUNK-sized requests."""
        with self.errors(key), self.fs.open(self.path(key), "rb", cache_type="none") as f:
            yield f

    def size(self, key: str) -> int | None:
        """Size in bytes of the object at `key`, or None when there is none."""
        with self.errors(key):
            try:
                return int(self.fs.info(self.path(key))["size"])
            except FileNotFoundError:
                return None

    def list(self, prefix: str, recursive: bool = True) -> list[Entry]:
        """Objects whose keys start with the directory `prefix` ('refs/a/'), sorted by key."""
        path = self.path(prefix.rstrip("/"))
        with self.errors(prefix):
            try:
                if recursive:
                    infos = self.fs.find(path, detail=True).values()
                else:
                    infos = self.fs.ls(path, detail=True)
            except FileNotFoundError:
                return []
        entries = [
            Entry(self.key_of(self.fs._strip_protocol(i["name"])), int(i["size"]), _mtime(i))
            for i in infos
            if i.get("type") == "file"
        ]
        return sorted(entries, key=lambda e: e.key)

    # -- writes -----------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing what was there, all at once."""
        with self.errors(key):
            self.fs.pipe_file(self.path(key), data)

    def create(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` only if nothing is there; False when another writer was first."""
        with _MEMORY_LOCK, self.errors(key):
            if self.fs.exists(self.path(key)):
                return False
            self.fs.pipe_file(self.path(key), data)
            return True

    def upload(self, key: str, local: Path, size: int) -> None:
        """Stream the local file to `key`; visible only once complete."""
        with self.errors(key):
            self.fs.put_file(str(local), self.path(key))

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the objects at `keys`; missing ones are fine (another gc got there first)."""
        for key in keys:
            with self.errors(key), contextlib.suppress(FileNotFoundError):
                self.fs.rm_file(self.path(key))

    def sweep(self, older_than: float, dry_run: bool) -> list[str]:
        """Remove leftovers of killed writers older than `older_than` (epoch s); their names."""
        return []


# memory:// lives in one process-wide dict, so one lock makes `create` atomic for all stores.
_MEMORY_LOCK = threading.Lock()


class MemoryObjects(Objects):
    """memory:// (tests, notebooks): process-wide, gone when the process exits."""

    def __init__(self, root: str, url: str) -> None:
        super().__init__(MemoryFileSystem(skip_instance_cache=True), root, url)


class LocalObjects(Objects):
    """file:// paths: atomic writes by rename, create-only commits by hard link."""

    def __init__(self, root: str, url: str) -> None:
        super().__init__(LocalFileSystem(), os.path.abspath(root), url)

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def key_of(self, path: str) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()

    def probe(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreConnectionError(
                f"store root {self.url} is a file, not a directory: "
                "open a store URL that names a directory (it is created if missing)"
            )

    def _staging(self) -> str:
        """A fresh temporary path on the store's filesystem (so rename and link are atomic)."""
        tmp = self.path(TMP)
        os.makedirs(tmp, exist_ok=True)
        return os.path.join(tmp, f"{uuid.uuid4().hex}.{os.getpid()}")

    def _stage(self, key: str, fill: Any) -> str:
        tmp = self._staging()
        try:
            with open(tmp, "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        os.makedirs(os.path.dirname(self.path(key)), exist_ok=True)
        return tmp

    def read(self, key: str) -> bytes:
        with self.errors(key), open(self.path(key), "rb") as f:
            return f.read()

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for key in keys:
            try:
                out[key] = self.read(key)
            except FileNotFoundError:
                out[key] = None
        return out

    def write(self, key: str, data: bytes) -> None:
        with self.errors(key):
            tmp = self._stage(key, lambda f: f.write(data))
            os.replace(tmp, self.path(key))

    def create(self, key: str, data: bytes) -> bool:
        with self.errors(key):
            tmp = self._stage(key, lambda f: f.write(data))
            try:
                os.link(tmp, self.path(key))  # fails if the name exists: atomic create-only
                return True
            except FileExistsError:
                return False
            finally:
                os.remove(tmp)

    def upload(self, key: str, local: Path, size: int) -> None:
        with self.errors(key), open(local, "rb") as src:
            tmp = self._stage(key, lambda f: shutil.copyfileobj(src, f, CHUNK))
            os.replace(tmp, self.path(key))

    def sweep(self, older_than: float, dry_run: bool) -> list[str]:
        stale = [e.key for e in self.list(TMP) if e.mtime < older_than]
        if not dry_run:
            self.delete(stale)
        return stale


def _mtime(info: dict[str, Any]) -> float:
    """Last-modified time of an fsspec info dict, whichever backend produced it."""
    for field in ("mtime", "LastModified", "created"):
        value = info.get(field)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, int | float):
            return float(value)
    return time.time()  # unknown: treat as brand new, so gc's grace period protects it
