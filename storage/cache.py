"""The local cache that `get` hands paths out of: verified blobs, and trees built from them.

    <cache>/blobs/ab/cdef...         a blob, verified (sha256 and size) when fetched
    <cache>/trees/<manifest>/...     a version's files, hard-linked (or copied) from the blobs
    <cache>/stamps/<manifest>.json   how each file of that tree looked when last verified

Everything is keyed by content, so one cache serves every store. Files are read-only and a tree
is renamed into place only when complete, so concurrent `get`s of a version are safe; delete the
cache directory at any time to reclaim space.

Every hand-out is verified, because read-only modes do not stop root or a careless tool. Hashing
a multi-GB corpus on every `get` would cost seconds, so instead each file's (size, mtime_ns,
ctime_ns, inode, device) is recorded when its content is verified, and the file is hashed again
whenever any of these differs (see `stamps.py`). A cached blob is hashed again whenever it is
linked into a new tree. A file found changed is replaced by a freshly fetched, verified blob;
files that are not part of the version are removed from its tree.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from pathlib import Path

from storage.backends.objects import Objects
from storage.blobs import fetch_blob, hash_file
from storage.errors import IntegrityError
from storage.records.version import Version
from storage.stamps import Stamp, Stamps, stamp_of

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Cache:
    """Verified local copies of stored versions under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def tree(self, version: Version, objects: Objects) -> Path:
        """Directory holding the version's files, each verified as it is handed out."""
        final = self.root / "trees" / version.digest
        stamps = Stamps(self.root / "stamps" / f"{version.digest}.json")
        if final.is_dir():
            self._check(final, version, objects, stamps)
            return final
        staging = self.root / "tmp" / f"tree-{uuid.uuid4().hex}"
        staging.mkdir(parents=True)
        try:
            for rel, entry in sorted(version.files.items()):
                blob = self.blob(entry["sha256"], int(entry["size"]), objects, version.ref)
                target = staging.joinpath(*rel.split("/"))
                if not target.resolve().is_relative_to(staging.resolve()):
                    raise IntegrityError(f"{version.ref}: file path {rel!r} escapes the tree")
                target.parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(blob, target)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                staging.rename(final)
            except OSError:  # another process finished the same tree first
                if not final.is_dir():
                    raise
                self._check(final, version, objects, stamps)
                return final
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        stamps.save({rel: stamp_of(final.joinpath(*rel.split("/"))) for rel in version.files})
        return final

    def _check(self, tree: Path, version: Version, objects: Objects, stamps: Stamps) -> None:
        """Verify every file of the tree (by its stamp, else by hashing it); replace the damaged
        ones, remove strays, and record the new stamps."""
        recorded: dict[str, Stamp] = stamps.load()
        fresh: dict[str, Stamp] = {}
        for rel, entry in sorted(version.files.items()):
            path = tree.joinpath(*rel.split("/"))
            sha, size = entry["sha256"], int(entry["size"])
            stamp = recorded.get(rel)
            if stamp is None or not stamp.trusted(path):
                stamp = _verify(path, sha, size)
            if stamp is None:  # changed: never handed out, replaced by a verified copy
                _replace(path, self.blob(sha, size, objects, version.ref))
                stamp = stamp_of(path)
            fresh[rel] = stamp
        _remove_strays(tree, set(version.files))
        if fresh != recorded:
            stamps.save(fresh)

    def blob(self, sha256: str, size: int, objects: Objects, what: str) -> Path:
        """Local path of blob `sha256`: the cached copy once it hashes right, else fetched."""
        path = self.root / "blobs" / sha256[:2] / sha256[2:]
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == size and hash_file(path) == (sha256, size):
                return path
        objects.retry.run(lambda: fetch_blob(objects, sha256, size, path, what), what)
        path.chmod(READ_ONLY)
        return path


def _verify(path: Path, sha256: str, size: int) -> Stamp | None:
    """A new stamp of `path` if it is a regular file with the expected content (and did not
    change while it was hashed); else None."""
    try:
        before = stamp_of(path)
        if not stat.S_ISREG(path.lstat().st_mode) or before.size != size:
            return None
        if hash_file(path) != (sha256, size) or stamp_of(path).identity != before.identity:
            return None
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    return before


def _replace(path: Path, blob: Path) -> None:
    """Put a link to (or copy of) the verified `blob` at `path`, atomically."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        _link_or_copy(blob, tmp)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _remove_strays(tree: Path, files: set[str]) -> None:
    """Remove whatever the tree holds beyond the version's files and their directories."""
    dirs = {"/".join(rel.split("/")[:i]) for rel in files for i in range(1, rel.count("/") + 1)}
    for folder, subdirs, names in os.walk(tree):
        base = Path(folder).relative_to(tree).as_posix()
        prefix = "" if base == "." else f"{base}/"
        for name in names:
            if f"{prefix}{name}" not in files:
                os.remove(Path(folder, name))
        for name in list(subdirs):
            if f"{prefix}{name}" not in dirs:
                subdirs.remove(name)
                target = Path(folder, name)
                if target.is_symlink():
                    target.unlink()
                else:
                    shutil.rmtree(target)


def _link_or_copy(blob: Path, target: Path) -> None:
    try:
        os.link(blob, target)  # same content, no extra space; both are read-only
    except OSError:
        shutil.copyfile(blob, target)
        target.chmod(READ_ONLY)
