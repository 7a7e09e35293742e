"""What `put` is given: a local file or directory, turned into {relative path: local file}.

Checked before any byte is hashed or sent: paths that a reader could not safely write back,
symlinked directories (whose contents would be silently skipped) and special files are refused.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from storage.errors import IntegrityError, InvalidInputError
from storage.records.manifest import check_relpath


def collect_files(path: Path) -> tuple[dict[str, Path], str]:
    """({relative posix path: local file}, shape) of a file ('file') or directory ('directory')."""
    if not path.exists():
        raise InvalidInputError(
            f"path {str(path)!r} does not exist: pass the file or directory to store"
        )
    if path.is_file():
        return {check_filename(path.name, str(path)): path}, "file"
    if not path.is_dir():
        raise InvalidInputError(f"path {str(path)!r} is not a regular file or directory")
    files: dict[str, Path] = {}
    for folder, dirs, names in os.walk(path):
        for d in dirs:
            if os.path.islink(os.path.join(folder, d)):
                raise InvalidInputError(
                    f"{os.path.join(folder, d)!r} is a symlink to a directory, which put does "
                    "not follow: copy the target into place, or put it as its own artifact"
                )
        for leaf in names:
            local = Path(folder, leaf)
            try:
                regular = stat.S_ISREG(local.stat().st_mode)
            except OSError as exc:  # e.g. a dangling symlink
                raise InvalidInputError(
                    f"cannot read {str(local)!r} ({exc.strerror}): fix or remove it, then put again"
                ) from None
            if not regular:
                raise InvalidInputError(
                    f"{str(local)!r} is not a regular file (a fifo, socket or device): "
                    "remove it from the directory before putting it"
                )
            files[check_filename(local.relative_to(path).as_posix(), str(path))] = local
    return dict(sorted(files.items())), "directory"


def check_filename(rel: str, where: str) -> str:
    """`rel` if a reader can write it back under a target directory; else an input error."""
    try:
        return check_relpath(rel, where)
    except IntegrityError:
        raise InvalidInputError(
            f"{where}: file name {rel!r} cannot be stored (empty, '.', '..', absolute or with a "
            "backslash): rename it"
        ) from None
