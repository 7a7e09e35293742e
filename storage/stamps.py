"""Stamps: how a cached file looked when its content was verified, so `get` need not hash it
again on every hand-out.

A stamp records the file's (size, mtime_ns, ctime_ns, inode, device) and when it was taken.
Every write to a file (and every chmod, link or rename of it) sets its ctime to the current
time, and no user, root included, can set a ctime back short of resetting the system clock;
so a file whose stat still matches its stamp holds the bytes that were verified. The kernel's
timestamps are coarse (one tick, a few ms): a write in the same tick as the verification could
leave ctime unchanged, so a stamp taken less than RACY_NS after the file's ctime is not trusted
(as git does with "racily clean" index entries) and the file is hashed again.

Why not hash on every hand-out: a corpus or checkpoint of several GB would cost seconds per
`get`, and the pipeline calls `get` often. What a stamp cannot catch: someone who edits a file
and then forges the stamps file too; delete the cache directory if you suspect that.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

RACY_NS = 1_000_000_000  # a stamp is trusted once taken this long after the file's last change


@dataclass(frozen=True)
class Stamp:
    """A file's stat when its content was verified, and when that was (ns since epoch)."""

    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    device: int
    stamped_ns: int

    @property
    def identity(self) -> tuple[int, int, int, int, int]:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode, self.device)

    def trusted(self, path: Path) -> bool:
        """True when `path` is unchanged since this stamp and the stamp is not racy."""
        try:
            now = stamp_of(path)
        except OSError:
            return False
        return now.identity == self.identity and self.stamped_ns - self.ctime_ns > RACY_NS


def stamp_of(path: Path) -> Stamp:
    """The stamp of `path` now (its own entry: a symlink is not followed)."""
    info = os.lstat(path)
    return Stamp(
        size=info.st_size,
        mtime_ns=info.st_mtime_ns,
        ctime_ns=info.st_ctime_ns,
        inode=info.st_ino,
        device=info.st_dev,
        stamped_ns=time.time_ns(),
    )


class Stamps:
    """The stamps of one cached tree, {relative path: Stamp}, in one JSON file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, Stamp]:
        """The recorded stamps; {} when there are none or the file is damaged (hash again)."""
        try:
            raw = json.loads(self.path.read_bytes())
            return {str(rel): Stamp(*(int(v) for v in values)) for rel, values in raw.items()}
        except (OSError, ValueError, TypeError, AttributeError):
            return {}

    def save(self, stamps: dict[str, Stamp]) -> None:
        """Replace the recorded stamps, atomically (concurrent `get`s each write a valid file)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex}")
        try:
            tmp.write_text(json.dumps({rel: astuple(s) for rel, s in sorted(stamps.items())}))
            os.replace(tmp, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
