"""file:// stores: atomic writes by rename, create-only commits by hard link, durable by fsync.

Durability: a file's bytes are fsynced before it is renamed or linked into place, and the
directory that received the new name is fsynced before the call returns (as is the parent of
every directory created on the way). So each step of a commit (blobs, manifest, then the ref) is
on disk before the next starts, and after a power loss a ref never survives without its blobs.
`delete` fsyncs the directories it removed names from, so gc's removal of a ref is durable
before it removes the objects that ref reached.

Temporary files live in `.tmp/`, named `<random>.<pid>.<pid namespace>.<host>`: gc sweeps one
only when it is older than the stale-marker TTL, or when it is older than the grace period and
its writer is provably dead (same host and pid namespace, and no such process).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from fsspec.implementations.local import LocalFileSystem

from storage.backends.objects import CHUNK, Objects
from storage.backends.retry import RetryPolicy
from storage.errors import StoreConnectionError
from storage.processes import gone, host_name, pid_namespace

TMP = ".tmp/"  # staging area for atomic writes, swept by gc


class LocalObjects(Objects):
    """file:// paths: atomic writes by rename, create-only commits by hard link, fsynced."""

    def __init__(self, root: str, url: str, retry: RetryPolicy | None = None) -> None:
        super().__init__(LocalFileSystem(), os.path.abspath(root), url, retry)
        self._writer = f"{os.getpid()}.{pid_namespace()}.{host_name()}"

    def path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def key_of(self, path: str) -> str:
        return Path(os.path.relpath(path, self.root)).as_posix()

    def probe(self) -> None:
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreConnectionError(
                f"store root {self.url} is a file, not a directory: "
                "open a store URL that names a directory (`lightrnn store init URL` creates one)"
            )

    # -- reads ------------------------------------------------------------------------------
    def read(self, key: str) -> bytes:
        return self.call(key, lambda: Path(self.path(key)).read_bytes())

    def read_many(self, keys: Iterable[str]) -> dict[str, bytes | None]:
        out: dict[str, bytes | None] = {}
        for key in keys:
            try:
                out[key] = self.read(key)
            except FileNotFoundError:
                out[key] = None
        return out

    # -- writes -----------------------------------------------------------------------------
    def write(self, key: str, data: bytes) -> None:
        self.call(key, lambda: self._put(key, lambda f: f.write(data), link=False))

    def create_once(self, key: str, data: bytes) -> bool:
        return self._put(key, lambda f: f.write(data), link=True)

    def upload(self, key: str, local: Path, size: int) -> None:
        def copy() -> None:
            with open(local, "rb") as src:
                self._put(key, lambda f: shutil.copyfileobj(src, f, CHUNK), link=False)

        self.call(key, copy)

    def delete(self, keys: Iterable[str]) -> None:
        """Remove the objects, then fsync the directories they were in (once each)."""
        touched: set[str] = set()
        for key in keys:
            self.call(key, lambda key=key: self._remove(key))
            touched.add(os.path.dirname(self.path(key)))
        for folder in sorted(touched):
            with contextlib.suppress(FileNotFoundError):
                self.call(self.key_of(folder), lambda folder=folder: _fsync_dir(folder))

    def _remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.path(key))

    # -- staging and durability -------------------------------------------------------------
    def _stage(self, fill: Callable[[BinaryIO], object]) -> str:
        """A temporary file on the store's filesystem holding what `fill` writes, fsynced."""
        folder = self.path(TMP)
        self._makedirs(folder)
        tmp = os.path.join(folder, f"{uuid.uuid4().hex}.{self._writer}")
        try:
            with open(tmp, "wb") as f:
                fill(f)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.remove(tmp)
            raise
        return tmp

    def _put(self, key: str, fill: Callable[[BinaryIO], object], link: bool) -> bool:
        """Stage what `fill` writes, give it the name `key` (link: only if the name is free,
        else False) and make the new name durable."""
        tmp = self._stage(fill)
        target = self.path(key)
        try:
            self._makedirs(os.path.dirname(target))
            if link:
                try:
                    os.link(tmp, target)  # fails if the name exists: atomic create-only
                except FileExistsError:
                    return False
            else:
                os.replace(tmp, target)
            _fsync_dir(os.path.dirname(target))
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)  # the staging name (after a link, or after a failure)

    def _makedirs(self, folder: str) -> None:
        """os.makedirs, fsyncing the parent of each directory it creates."""
        missing: list[str] = []
        while not os.path.isdir(folder):
            missing.append(folder)
            folder = os.path.dirname(folder)
        for new in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(new)
            _fsync_dir(os.path.dirname(new))

    # -- leftovers of killed writers --------------------------------------------------------
    def sweep(
        self, grace_cutoff: float, stale_cutoff: float, busy: set[str], dry_run: bool
    ) -> list[str]:
        gone = [
            e.key
            for e in self.list(TMP)
            if e.mtime < stale_cutoff or (e.mtime < grace_cutoff and self._abandoned(e.key))
        ]
        if not dry_run:
            self.delete(gone)
        return gone

    def _abandoned(self, key: str) -> bool:
        """True when the temporary file's writer ran on this host and pid namespace and is
        gone; False whenever that cannot be proven (other host, old name, pid alive or reused)."""
        _, _, writer = key.rpartition("/")[2].partition(".")
        pid, _, rest = writer.partition(".")
        namespace, _, host = rest.partition(".")
        return pid.isdigit() and gone(host, namespace, int(pid))


def _fsync_dir(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
