"""The local cache that `get` hands paths out of: verified blobs, and trees built from them.

    <cache>/blobs/ab/cdef...       a blob, fetched once and verified (sha256 and size)
    <cache>/trees/<manifest>/...   a version's files, hard-linked (or copied) from the blobs

Both are keyed by content, so one cache serves every store and needs no invalidation. Files are
read-only, and a tree is renamed into place only when complete, so concurrent `get`s of the same
version are safe. Delete the cache directory at any time to reclaim space.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from pathlib import Path

from storage.blobs import fetch_blob
from storage.errors import IntegrityError
from storage.objects import Objects
from storage.version import Version

READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


class Cache:
    """Verified local copies of stored versions under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().absolute()

    def tree(self, version: Version, objects: Objects) -> Path:
        """Directory holding the version's files, each verified when it was fetched."""
        final = self.root / "trees" / version.digest
        if final.is_dir():
            if _intact(final, version):
                return final
            _remove_tree(final)  # edited or half-deleted by hand: rebuild it
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
                if not _intact(final, version):
                    raise
        finally:
            if staging.exists():
                _remove_tree(staging)
        return final

    def blob(self, sha256: str, size: int, objects: Objects, what: str) -> Path:
        """Local path of blob `sha256`, fetched and verified unless already cached."""
        path = self.root / "blobs" / sha256[:2] / sha256[2:]
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size == size:
                return path
            path.chmod(stat.S_IWUSR | READ_ONLY)
            path.unlink()
        fetch_blob(objects, sha256, size, path, what)
        path.chmod(READ_ONLY)
        return path


def _intact(tree: Path, version: Version) -> bool:
    """Every file of the version is there as a regular file of the right size."""
    for rel, entry in version.files.items():
        try:
            info = tree.joinpath(*rel.split("/")).lstat()
        except FileNotFoundError:
            return False
        if not stat.S_ISREG(info.st_mode) or info.st_size != int(entry["size"]):
            return False
    return True


def _link_or_copy(blob: Path, target: Path) -> None:
    try:
        os.link(blob, target)  # same content, no extra space; both are read-only
    except OSError:
        shutil.copyfile(blob, target)
        target.chmod(READ_ONLY)


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
