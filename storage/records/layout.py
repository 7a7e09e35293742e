"""Where each record lives under the store's root (docs/design.md#layout).

    blobs/sha256/ab/cdef...                immutable bytes, key = sha256(content)
    manifests/sha256/<d>.json              immutable: {kind, name, shape, files, meta, parents}
    refs/<name>/v000042.json               create-only version record -> manifest digest (commit)
    refs/<name>/v000042.retracted.json     create-only: version 42 withdrawn, with a reason
    tags/<name>/<alias>.json               mutable alias (best, stable, ...)
    pending/<token>.json                   a commit (or tag, retract) in flight: what gc must keep
    gc/<token>.json                        a gc in flight, until its expiry (renewed while it runs)
    leases/<name>/e000000000007.json       create-only epoch 7 of a lease (see lease.py)

Keys are '/'-separated and relative to the root; the backends in `objects.py` map them to paths.
"""

from __future__ import annotations

import re

from storage.records.refnames import version_label

BLOBS = "blobs/sha256/"
MANIFESTS = "manifests/sha256/"
REFS = "refs/"
TAGS = "tags/"
PENDING = "pending/"
GC = "gc/"
LEASES = "leases/"
RETRACTED = ".retracted.json"
_REF_FILE = re.compile(r"v(\d+)\.json")
_RETRACTION_FILE = re.compile(r"v(\d+)\.retracted\.json")
_EPOCH_FILE = re.compile(r"e(\d+)\.json")
EPOCH_DIGITS = 12
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


def retraction_key(name: str, number: int) -> str:
    """Key of the create-only record that withdraws version `number` of `name`."""
    return f"{REFS}{name}/{version_label(number)}{RETRACTED}"


def pending_key(token: str) -> str:
    """Key of the marker of one commit (or tag, or retraction) in flight."""
    return f"{PENDING}{token}.json"


def gc_key(token: str) -> str:
    """Key of the marker of one gc run in flight."""
    return f"{GC}{token}.json"


def lease_prefix(name: str) -> str:
    """Directory that holds the epoch records of lease `name`."""
    return f"{LEASES}{name}/"


def lease_key(name: str, epoch: int) -> str:
    """Key of the create-only record of epoch `epoch` of lease `name`."""
    return f"{LEASES}{name}/e{epoch:0{EPOCH_DIGITS}d}.json"


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
    return _split_numbered(key, REFS, _REF_FILE)


def split_retraction_key(key: str) -> tuple[str, int] | None:
    """(name, number) of a retraction record's key, or None for any other key."""
    return _split_numbered(key, REFS, _RETRACTION_FILE)


def split_lease_key(key: str) -> tuple[str, int] | None:
    """(lease name, epoch) of a lease record's key, or None for any other key."""
    return _split_numbered(key, LEASES, _EPOCH_FILE)


def _split_numbered(key: str, prefix: str, leaf_pattern: re.Pattern[str]) -> tuple[str, int] | None:
    if not key.startswith(prefix):
        return None
    name, _, leaf = key[len(prefix) :].rpartition("/")
    match = leaf_pattern.fullmatch(leaf)
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
