"""Content-addressed blobs: hashing local files, and fetching stored bytes verified.

Everything streams in CHUNK-sized pieces, so a checkpoint of any size passes through bounded
memory. A fetched blob is written under a temporary name and renamed into place only once its
size and sha256 match: a damaged blob is never handed out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

from storage.backends.objects import CHUNK, Objects
from storage.errors import IntegrityError
from storage.records.layout import blob_key


def hash_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a local file, read in CHUNK-sized pieces."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def check_blob(data: bytes, sha256: str, size: int, objects: Objects, what: str) -> bytes:
    """`data` if it is the blob `sha256` of `size` bytes; else an IntegrityError."""
    actual = hashlib.sha256(data).hexdigest()
    if len(data) != size or actual != sha256:
        raise _damaged(objects, sha256, size, len(data), actual, what)
    return data


def fetch_blob(objects: Objects, sha256: str, size: int, dest: Path, what: str) -> None:
    """Download blob `sha256` to `dest`, verified; `what` names the artifact in errors."""
    key = blob_key(sha256)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    digest, got = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            try:
                with objects.open_read(key) as src:
                    # read one byte past the expected size, to notice a blob that grew
                    while got <= size and (chunk := src.read(min(CHUNK, size + 1 - got))):
                        digest.update(chunk)
                        out.write(chunk)
                        got += len(chunk)
            except FileNotFoundError:
                raise IntegrityError(
                    f"{what}: blob {objects.where(key)} is missing, so the version cannot be "
                    "read; re-put the artifact from its source, or restore the blob from a backup"
                ) from None
        if got != size or digest.hexdigest() != sha256:
            raise _damaged(objects, sha256, size, got, digest.hexdigest(), what)
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)


def _damaged(
    objects: Objects, sha256: str, size: int, got: int, actual: str, what: str
) -> IntegrityError:
    where = objects.where(blob_key(sha256))
    if got == size:
        found = f"sha256 {actual[:12]}..."
    else:
        found = f"{got} bytes" if got < size else f"more than {size} bytes"
    return IntegrityError(
        f"{what}: blob {where} is damaged (expected {size} bytes with sha256 {sha256[:12]}..., "
        f"found {found}); it was not handed out. Delete that object and re-put the artifact "
        "from its source, or restore the object from a backup"
    )
