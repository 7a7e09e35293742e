"""Withdrawing a bad version: `retract` writes a create-only record (reason and time) that hides
the version from `latest`, `exists` and `valid_versions`, while it still resolves by number for
forensics; gc does not count it toward keep_last. On memory://, file:// and a real S3."""

from __future__ import annotations

from pathlib import Path

import pytest
from messages import assert_names

import storage
from storage.records.layout import REFS, retraction_key

NAME = "runs/r1/checkpoint"


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> storage.Store:
    return storage.open_store(store_url, cache_dir=tmp_path / "cache", create=True)


def commit(store: storage.Store, *steps: int) -> None:
    for step in steps:
        store.put_bytes(NAME, "model.bin", bytes([step]) * 100, meta={"step": step})


def test_a_retracted_version_leaves_latest_but_resolves_by_number(store: storage.Store) -> None:
    commit(store, 1, 2, 3)

    retracted = store.retract(NAME, "latest", "loss diverged at step 3")

    assert retracted.number == 3 and retracted.retracted
    assert retracted.retraction is not None
    assert retracted.retraction.reason == "loss diverged at step 3"
    assert retracted.retraction.retracted.endswith("Z")
    assert store.resolve(NAME).number == 2
    assert store.read_bytes(NAME) == b"\x02" * 100
    assert store.get(NAME).read_bytes() == b"\x02" * 100
    by_number = store.resolve(NAME, 3)  # forensics: still there, and says so
    assert by_number.retracted and by_number.retraction == retracted.retraction
    assert store.read_bytes(NAME, 3) == b"\x03" * 100
    assert [v.number for v in store.valid_versions(NAME)] == [2, 1]  # newest first
    assert [(v.number, v.retracted) for v in store.versions(NAME)] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert store.exists(NAME)
    fresh = storage.open_store(
        store.url, cache_dir=Path(store.cache.root).with_name("fresh"), create=True
    )
    assert fresh.resolve(NAME).number == 2 and fresh.resolve(NAME, 3).retracted


def test_a_retraction_is_create_only_and_the_first_reason_stays(store: storage.Store) -> None:
    commit(store, 1, 2)
    first = store.retract(NAME, 2, "bad data")
    again = store.retract(NAME, "v2", "another reason")

    assert again.retraction == first.retraction
    assert {e.key for e in store.objects.list(REFS) if "retracted" in e.key} == {
        retraction_key(NAME, 2)
    }


def test_every_version_retracted(store: storage.Store) -> None:
    commit(store, 1)
    store.retract(NAME, 1, "corrupt")

    assert not store.exists(NAME)
    assert store.valid_versions(NAME) == []
    with pytest.raises(storage.NotFoundError) as info:
        store.resolve(NAME)
    assert_names(info.value, repr(NAME), store.url, "retracted (v000001)", "put a new version")
    assert_names(info.value, f"lightrnn store log {store.url} {NAME}")  # says why
    # Committing the very same content again makes a new, valid version (no dedup to v1).
    again = store.put_bytes(NAME, "model.bin", b"\x01" * 100, meta={"step": 1})
    assert again.number == 2 and not again.retracted
    assert store.resolve(NAME).number == 2


def test_retract_input_errors(store: storage.Store) -> None:
    commit(store, 1)
    with pytest.raises(storage.InvalidInputError, match="reason '  ' for retracting"):
        store.retract(NAME, 1, "  ")
    with pytest.raises(storage.NotFoundError, match=r"runs/r1/checkpoint@v000009 is not in store"):
        store.retract(NAME, 9, "nope")
    with pytest.raises(storage.NotFoundError, match="no artifact named 'runs/r9'"):
        store.retract("runs/r9", "latest", "nope")


def test_a_reason_never_stores_a_credential(store: storage.Store) -> None:
    commit(store, 1)
    version = store.retract(NAME, 1, "bad shard from https://u:pw@host/x?X-Amz-Signature=abc")
    assert version.retraction is not None
    assert version.retraction.reason == "bad shard from https://***@host/x?X-Amz-Signature=***"


def test_gc_does_not_count_retracted_versions(store: storage.Store) -> None:
    commit(store, 1, 2, 3, 4, 5)
    store.retract(NAME, 5, "diverged")
    store.retract(NAME, 4, "diverged")
    store.retract(NAME, 2, "bad eval")

    report = store.gc(keep_last=1, grace_seconds=0)

    # newest (5, 4: retracted, kept for forensics), then the newest valid one (3); 2 and 1 go
    assert [v.number for v in store.versions(NAME)] == [3, 4, 5]
    assert report.deleted_versions == (f"{NAME}@v000001", f"{NAME}@v000002")
    assert retraction_key(NAME, 2) in report.deleted_records  # its retraction goes too
    assert store.resolve(NAME).number == 3
    assert store.read_bytes(NAME) == b"\x03" * 100
    assert [v.number for v in store.valid_versions(NAME)] == [3]


def test_gc_keeps_the_newest_version_even_when_retracted(store: storage.Store) -> None:
    commit(store, 1, 2)
    store.retract(NAME, 2, "diverged")
    store.retract(NAME, 1, "diverged too")

    store.gc(keep_last=1, grace_seconds=0)

    # nothing valid to keep; the newest stays so its number is never given out again
    assert [v.number for v in store.versions(NAME)] == [1, 2]
    assert store.put_bytes(NAME, "model.bin", b"new").number == 3


def test_gc_removes_a_retraction_whose_version_is_gone(store: storage.Store) -> None:
    commit(store, 1, 2)
    store.objects.create(retraction_key(NAME, 7), b"{}")  # an orphan (its ref was deleted)

    report = store.gc(keep_last=5, grace_seconds=0)

    assert report.deleted_records == (retraction_key(NAME, 7),)
    assert store.objects.size(retraction_key(NAME, 7)) is None
