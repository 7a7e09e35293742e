"""Where each record lives under the store's root (DESIGN section 5).

    blobs/sha256/ab/cdef...        immutable bytes, key = sha256(content)
    manifests/sha256/<d>.json      immutable: {kind, name, shape, files, meta, parents}
    refs/<name>/v000042.json       create-only version record -> manifest digest (the commit point)
    tags/<name>/<alias>.json       mutable alias (best, stable, ...)

Keys are '/'-separated and relative to the root; the backends in `objects.py` map them to paths.
"""

from __future__ import annotations

import re

from storage.names import version_label

BLOBS = "blobs/sha256/"
MANIFESTS = "manifests/sha256/"
REFS = "refs/"
TAGS = "tags/"
_REF_FILE = re.compile(r"v(\d+)\.json")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def blob_key(sha256: str) -> str:
    """Key of the blob whose content hashes to `sha256` (two-character fan-out directory)."""
    return f"{BLOBS}{sha256[:2]}/{sha256[2:]}"


def manifest_key(digest: str) -> str:
    """Key of the manifest whose canonical JSON hashes to `digest`."""
    return f"{MANIFESTS}{digest}.json"


def refs_prefix(name: str) -> str:
    """Directory that holds the version records of `name` (and nested names, one level down)."""
    return f"{REFS}{name}/"


def ref_key(name: str, number: int) -> str:
    """Key of the create-only record of version `number` of `name`."""
    return f"{REFS}{name}/{version_label(number)}.json"


def tags_prefix(name: str) -> str:
    """Directory that holds the aliases of `name`."""
    return f"{TAGS}{name}/"


def tag_key(name: str, alias: str) -> str:
    """Key of the mutable alias record `alias` of `name`."""
    return f"{TAGS}{name}/{alias}.json"


def is_sha256(text: str) -> bool:
    """True when `text` is a lowercase hex sha256 digest."""
    return isinstance(text, str) and _HEX64.fullmatch(text) is not None


def split_ref_key(key: str) -> tuple[str, int] | None:
    """(name, number) of a key under refs/, or None when the key is not a version record."""
    if not key.startswith(REFS):
        return None
    name, _, leaf = key[len(REFS) :].rpartition("/")
    match = _REF_FILE.fullmatch(leaf)
    if not name or not match:
        return None
    return name, int(match.group(1))


def split_tag_key(key: str) -> tuple[str, str] | None:
    """(name, alias) of a key under tags/, or None when the key is not an alias record."""
    if not key.startswith(TAGS) or not key.endswith(".json"):
        return None
    name, _, leaf = key[len(TAGS) :].rpartition("/")
    return (name, leaf.removesuffix(".json")) if name else None


def blob_sha(key: str) -> str | None:
    """The sha256 a key under blobs/ stands for, or None for anything else found there."""
    if not key.startswith(BLOBS):
        return None
    fan, _, rest = key[len(BLOBS) :].partition("/")
    sha = fan + rest
    return sha if len(fan) == 2 and is_sha256(sha) else None


def manifest_digest(key: str) -> str | None:
    """The digest a key under manifests/ stands for, or None for anything else found there."""
    if not key.startswith(MANIFESTS) or not key.endswith(".json"):
        return None
    digest = key[len(MANIFESTS) : -len(".json")]
    return digest if is_sha256(digest) else None
