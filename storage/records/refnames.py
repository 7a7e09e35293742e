"""Artifact names, version numbers, aliases and refs ("name@v000003"): parsing and validation.

Names become object keys (`refs/<name>/v000003.json`), so they are checked before any I/O: only
`[A-Za-z0-9._-]` segments joined by `/`, nothing that could climb out of the store's root or
collide with the store's own records.
"""

from __future__ import annotations

import re

from storage.errors import InvalidInputError

_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_VERSION = re.compile(r"v?(\d+)")
_REF = re.compile(r"(?P<name>[^@]+)@v(?P<number>\d+)")
LATEST = "latest"  # computed from the refs, never stored: it cannot go stale
VERSION_DIGITS = 6


def check_name(name: str) -> str:
    """`name` if it is a valid artifact name such as 'corpus/ab12cd/shards'; else a clear error."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"artifact name {name!r} is empty: pass words joined by '/'")
    if name.startswith("/") or name.endswith("/"):
        raise InvalidInputError(
            f"artifact name {name!r} starts or ends with '/': "
            f"write it as {name.strip('/')!r} (names are relative to the store)"
        )
    for segment in name.split("/"):
        problem = _segment_problem(segment)
        if problem:
            raise InvalidInputError(
                f"artifact name {name!r}: segment {segment!r} {problem}; use letters, digits, "
                "'.', '_' and '-' in each '/'-separated word, e.g. 'corpus/ab12cd/shards'"
            )
    return name


def _segment_problem(segment: str) -> str:
    if not segment:
        return "is empty (two '/' in a row)"
    if segment in (".", ".."):
        return "is a relative path step"
    if not _SEGMENT.fullmatch(segment):
        return "holds characters outside [A-Za-z0-9._-]"
    if segment.startswith("."):
        return "starts with '.', which the store keeps for its temporary files"
    if segment.endswith(".json"):
        return "ends in '.json', which the store keeps for its records"
    return ""


def check_kind(kind: str) -> str:
    """`kind` if it is one word such as 'checkpoint' or 'shards'; else a clear error."""
    if not isinstance(kind, str) or _segment_problem(kind):
        raise InvalidInputError(
            f"artifact kind {kind!r} is not one word of [A-Za-z0-9._-]: "
            "pass e.g. 'checkpoint', 'shards', 'vocab' or 'metrics'"
        )
    return kind


def check_alias(alias: str) -> str:
    """`alias` if it can name a tag such as 'best' or 'stable'; else a clear error."""
    if alias == LATEST:
        raise InvalidInputError(
            "alias 'latest' is computed from the newest version and cannot be set: "
            "pick another alias, e.g. 'stable'"
        )
    if not isinstance(alias, str) or _segment_problem(alias) or _VERSION.fullmatch(alias):
        raise InvalidInputError(
            f"alias {alias!r} is not a valid tag: use one word of [A-Za-z0-9._-] that does not "
            "start with '.', end in '.json' or look like a version number, e.g. 'best'"
        )
    return alias


def version_number(ref: int | str) -> int | None:
    """The number a ref like 3, '3', 'v3' or 'v000003' names; None when it is an alias."""
    if isinstance(ref, bool):
        raise InvalidInputError(f"version ref {ref!r} is a bool: pass a number, 'v3' or an alias")
    if isinstance(ref, int):
        number = ref
    else:
        match = _VERSION.fullmatch(ref)
        if not match:
            return None
        number = int(match.group(1))
    if number < 1:
        raise InvalidInputError(f"version {ref!r} is below 1: versions are numbered from 1")
    return number


def version_label(number: int) -> str:
    """'v000003': the zero-padded label of a version number, as in its ref record's key."""
    return f"v{number:0{VERSION_DIGITS}d}"


def format_ref(name: str, number: int) -> str:
    """'name@v000003': how a version is cited as a parent and in reports."""
    return f"{name}@{version_label(number)}"


def parse_ref(ref: str) -> tuple[str, int]:
    """(name, number) of a 'name@v000003' string, as passed in `parents`; else a clear error."""
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if not match:
        raise InvalidInputError(
            f"parent ref {ref!r} is not of the form 'name@v000003': "
            "pass Version.ref of the artifact this one was made from"
        )
    return check_name(match.group("name")), int(match.group("number"))
