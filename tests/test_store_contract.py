"""The store's contract, run on every backend: memory://, file:// and a real S3 (SeaweedFS).

Round trips are byte for byte; commits are atomic and never lost under concurrency; damaged
bytes are never handed out; a writer killed before its commit point leaves no version, and gc
removes its orphans only once they are past the grace period and the writer's pending marker is
stale, keeping everything reachable.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from messages import assert_names

import storage
import storage.coordination.commit
from storage.coordination.markers import Intent
from storage.records.layout import BLOBS, MANIFESTS, PENDING, blob_key, manifest_key, ref_key
from storage.records.manifest import canonical_json
from storage.records.version import ref_record


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> storage.Store:
    return storage.open_store(store_url, cache_dir=tmp_path / "cache", create=True)


def make_tree(root: Path) -> dict[str, bytes]:
    """A directory with nested folders, an empty file, binary and non-ASCII names."""
    files = {
        "vocab.txt": b"<unk>\n<eos>\nthe\n",
        "shards/train-000.arrow": os.urandom(300_000),
        "shards/valid-000.arrow": os.urandom(1_000),
        "shards/copy-of-valid.arrow": b"",
        "deep/a/b/c/naïve.json": '{"é": 1}'.encode(),
        "same-1.bin": b"identical content",
        "same-2.bin": b"identical content",
    }
    for rel, data in files.items():
        path = root.joinpath(*rel.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def keys(store: storage.Store, prefix: str) -> set[str]:
    return {e.key for e in store.objects.list(prefix)}


# -- round trip and dedup -------------------------------------------------------------------
def test_directory_round_trip_is_byte_for_byte(store: storage.Store, tmp_path: Path) -> None:
    files = make_tree(tmp_path / "src")
    version = store.put("corpus/ab12cd/shards", tmp_path / "src", meta={"tokens": 123})

    assert (version.name, version.number, version.ref) == (
        "corpus/ab12cd/shards",
        1,
        "corpus/ab12cd/shards@v000001",
    )
    assert version.meta == {"tokens": 123}
    assert version.shape == "directory"
    assert version.files["vocab.txt"] == {
        "sha256": hashlib.sha256(files["vocab.txt"]).hexdigest(),
        "size": len(files["vocab.txt"]),
    }
    assert version.uri == f"{store.url}/refs/corpus/ab12cd/shards/v000001.json"
    got = store.get("corpus/ab12cd/shards")
    assert got.is_dir()
    assert read_tree(got) == files
    # A second store object (another process, another machine) reads the same version.
    other = storage.open_store(store.url, cache_dir=tmp_path / "other-cache", create=True)
    assert read_tree(other.get("corpus/ab12cd/shards", 1)) == files
    assert other.resolve("corpus/ab12cd/shards") == version


def test_single_file_round_trip_returns_the_file(store: storage.Store, tmp_path: Path) -> None:
    data = os.urandom(70_000)
    (tmp_path / "model.safetensors").write_bytes(data)
    version = store.put("runs/3f9a/round-1/checkpoint", tmp_path / "model.safetensors")

    path = store.get("runs/3f9a/round-1/checkpoint")
    assert version.shape == "file"
    assert path.name == "model.safetensors"
    assert path.read_bytes() == data
    assert store.read_bytes("runs/3f9a/round-1/checkpoint") == data


def test_put_bytes_and_read_bytes(store: storage.Store) -> None:
    version = store.put_bytes("runs/3f9a/metrics", "metrics.json", b'{"ppl": 81.5}')

    assert version.files == {
        "metrics.json": {"sha256": hashlib.sha256(b'{"ppl": 81.5}').hexdigest(), "size": 13}
    }
    assert store.read_bytes("runs/3f9a/metrics", "latest", "metrics.json") == b'{"ppl": 81.5}'
    assert store.get("runs/3f9a/metrics").read_bytes() == b'{"ppl": 81.5}'


def test_identical_content_is_one_version(store: storage.Store, tmp_path: Path) -> None:
    make_tree(tmp_path / "src")
    first = store.put("corpus/x/shards", tmp_path / "src", meta={"seed": 1})
    blobs_after_first = keys(store, BLOBS)

    again = store.put("corpus/x/shards", tmp_path / "src", meta={"seed": 1})
    changed_meta = store.put("corpus/x/shards", tmp_path / "src", meta={"seed": 2})

    assert again == first
    assert changed_meta.number == 2
    assert len(blobs_after_first) == 6  # 7 files, two with identical content
    assert keys(store, BLOBS) == blobs_after_first  # no blob uploaded twice
    assert len(keys(store, MANIFESTS)) == 2
    assert [v.number for v in store.versions("corpus/x/shards")] == [1, 2]


# -- refs, aliases, lineage -----------------------------------------------------------------
def test_resolve_by_number_alias_and_latest(store: storage.Store) -> None:
    for i in range(1, 4):
        store.put_bytes("tables/t", "table.bin", bytes([i]) * 10, kind="table")
    store.tag("tables/t", "v2", "best")

    assert [store.resolve("tables/t", ref).number for ref in (2, "2", "v2", "v000002")] == [2] * 4
    assert store.resolve("tables/t").number == 3
    assert store.resolve("tables/t", "best").number == 2
    assert store.read_bytes("tables/t", "best") == b"\x02" * 10
    assert store.tags("tables/t") == {"best": 2}
    store.tag("tables/t", "latest", "best")  # aliases move
    assert store.resolve("tables/t", "best").number == 3
    store.untag("tables/t", "best")
    assert store.tags("tables/t") == {}
    assert store.exists("tables/t") and not store.exists("tables/u")
    assert store.names() == ["tables/t"]


def test_unknown_name_version_and_alias_say_what_exists(store: storage.Store) -> None:
    store.put_bytes("a/b", "x.txt", b"1")
    store.put_bytes("a/b", "x.txt", b"2")
    store.tag("a/b", 1, "stable")

    with pytest.raises(storage.NotFoundError) as unknown_name:
        store.resolve("a/c")
    with pytest.raises(storage.NotFoundError) as unknown_version:
        store.get("a/b", 7)
    with pytest.raises(storage.NotFoundError) as unknown_alias:
        store.get("a/b", "best")

    assert_names(unknown_name.value, "'a/c'", store.url, f"lightrnn store ls {store.url}")
    assert_names(unknown_version.value, "a/b@v000007", store.url, "v000001, v000002", "stable")
    assert "has no version or alias 'best'" in str(unknown_alias.value)
    assert "aliases: stable" in str(unknown_alias.value)


def test_lineage_and_names(store: storage.Store) -> None:
    vocab = store.put_bytes("corpus/c1/vocab", "vocab.txt", b"a\nb\n", kind="vocab")
    shards = store.put_bytes(
        "corpus/c1/shards", "s.arrow", b"\x00" * 8, parents=[vocab.ref], kind="shards"
    )
    ckpt = store.put_bytes(
        "runs/r1/checkpoint", "c.bin", b"w", parents=[shards, vocab.ref], kind="checkpoint"
    )

    assert ckpt.parents == ("corpus/c1/shards@v000001", "corpus/c1/vocab@v000001")
    assert store.resolve("runs/r1/checkpoint").parents == ckpt.parents
    assert store.names() == ["corpus/c1/shards", "corpus/c1/vocab", "runs/r1/checkpoint"]
    assert store.names("corpus/") == ["corpus/c1/shards", "corpus/c1/vocab"]
    assert store.names("corpus/c1/v") == ["corpus/c1/vocab"]
    with pytest.raises(storage.NotFoundError) as missing_parent:
        store.put_bytes("runs/r2/checkpoint", "c.bin", b"w", parents=["corpus/c1/vocab@v9"])
    assert_names(missing_parent.value, "'corpus/c1/vocab@v9'", store.url, "Version.ref")
    assert not store.exists("runs/r2/checkpoint")


# -- concurrency ----------------------------------------------------------------------------
def test_16_concurrent_writers_get_16_versions(store_url: str, tmp_path: Path) -> None:
    writers = 16
    start = threading.Barrier(writers)
    results: dict[int, storage.Version] = {}
    errors: list[BaseException] = []

    def write(i: int) -> None:
        try:
            store = storage.open_store(store_url, cache_dir=tmp_path / f"cache-{i}", create=True)
            start.wait()
            results[i] = store.put_bytes("runs/race/metrics", "m.txt", f"writer {i}".encode())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert errors == []
    assert sorted(v.number for v in results.values()) == list(range(1, writers + 1))
    reader = storage.open_store(store_url, cache_dir=tmp_path / "reader", create=True)
    name = "runs/race/metrics"
    stored = {v.number: reader.read_bytes(name, v.number) for v in reader.versions(name)}
    assert stored == {v.number: f"writer {i}".encode() for i, v in results.items()}


# -- integrity ------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["corrupted", "truncated", "grown", "missing"])
def test_damaged_blob_raises_and_is_never_handed_out(
    store: storage.Store, tmp_path: Path, damage: str
) -> None:
    data = b"0123456789" * 1000
    version = store.put_bytes("runs/r/checkpoint", "c.bin", data)
    key = blob_key(hashlib.sha256(data).hexdigest())
    if damage == "corrupted":
        store.objects.write(key, b"X" + data[1:])  # same size, different bytes
    elif damage == "truncated":
        store.objects.write(key, data[:4000])
    elif damage == "grown":
        store.objects.write(key, data + b"!")
    else:
        store.objects.delete([key])

    with pytest.raises(storage.IntegrityError) as from_get:
        store.get("runs/r/checkpoint")
    with pytest.raises(storage.IntegrityError) as from_read:
        store.read_bytes("runs/r/checkpoint")

    expected = {
        "corrupted": "found sha256 ",
        "truncated": "found 4000 bytes",
        "grown": "found more than 10000 bytes",
        "missing": "is missing",
    }[damage]
    for error in (from_get.value, from_read.value):
        assert str(error).startswith(f"{version.ref}: blob {store.objects.where(key)} ")
        assert expected in str(error)
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert cached == []  # nothing damaged (or partial) left in the cache
    # Re-putting the source heals a blob whose size is wrong (or that is gone).
    if damage != "corrupted":
        store.put_bytes("runs/r/checkpoint", "c.bin", data, meta={"healed": True})
        assert store.read_bytes("runs/r/checkpoint", 1) == data


@pytest.mark.parametrize(
    "bad_path", ["../escaped.txt", "/tmp/escaped.txt", "a/../../x", "a\\..\\x"]
)
def test_manifest_escaping_the_target_is_rejected(
    store: storage.Store, tmp_path: Path, bad_path: str
) -> None:
    payload = b"evil"
    sha = hashlib.sha256(payload).hexdigest()
    manifest = canonical_json(
        {
            "format": 1,
            "name": "evil/art",
            "kind": "artifact",
            "shape": "directory",
            "files": {bad_path: {"sha256": sha, "size": 4}},
            "meta": {},
            "parents": [],
        }
    )
    digest = hashlib.sha256(manifest).hexdigest()
    store.objects.write(blob_key(sha), payload)
    store.objects.write(manifest_key(digest), manifest)
    store.objects.create(
        ref_key("evil/art", 1), ref_record("evil/art", 1, digest, datetime.now(UTC))
    )

    with pytest.raises(storage.IntegrityError, match="would escape the target directory"):
        store.get("evil/art")
    assert list((tmp_path / "cache").rglob("*escaped*")) == []


# -- a writer killed before its commit point, and gc ----------------------------------------
KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import storage
    import storage.coordination.commit

    def die(*_):  # killed after blobs and manifest, before the ref
        os.kill(os.getpid(), signal.SIGKILL)

    storage.coordination.commit.claim_version = die
    store = storage.open_store(sys.argv[1], cache_dir=sys.argv[2], create=True)
    store.put_bytes("runs/r/checkpoint", "c.bin", b"never committed " * 100)
    """
)


class Killed(BaseException):
    """Stands in for SIGKILL where the store lives in this process (memory://)."""


def kill_a_writer(store: storage.Store, store_url: str, tmp_path: Path) -> None:
    if store_url.startswith("memory://"):

        def die(*_: object) -> tuple[int, str]:
            raise Killed

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(storage.coordination.commit, "claim_version", die)
            patch.setattr(Intent, "_withdraw", lambda self: None)  # SIGKILL cleans nothing up
            with pytest.raises(Killed):
                store.put_bytes("runs/r/checkpoint", "c.bin", b"never committed " * 100)
        return
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, store_url, str(tmp_path / "killed-cache")],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()


def test_killed_writer_leaves_no_version_and_gc_removes_its_orphans_after_grace(
    store: storage.Store, store_url: str, tmp_path: Path
) -> None:
    """The orphans stay while they are within the grace period, and while the dead writer's
    pending marker is not stale (gc cannot tell a dead writer from a slow one before that)."""
    committed = {n: os.urandom(2000) for n in (1, 2, 3)}
    for data in committed.values():
        store.put_bytes("runs/r/checkpoint", "c.bin", data)
    store.put_bytes("corpus/c/vocab", "v.txt", b"vocab")
    blobs_before, manifests_before = keys(store, BLOBS), keys(store, MANIFESTS)

    kill_a_writer(store, store_url, tmp_path)

    orphan_sha = hashlib.sha256(b"never committed " * 100).hexdigest()
    assert keys(store, BLOBS) == blobs_before | {blob_key(orphan_sha)}
    (orphan_manifest,) = keys(store, MANIFESTS) - manifests_before
    assert [v.number for v in store.versions("runs/r/checkpoint")] == [1, 2, 3]
    assert store.read_bytes("runs/r/checkpoint") == committed[3]

    within_grace = store.gc(keep_last=10, grace_seconds=3600)
    assert within_grace.deleted_blobs == () and within_grace.deleted_manifests == ()
    assert set(within_grace.pending) == {blob_key(orphan_sha), orphan_manifest}
    assert keys(store, BLOBS) == blobs_before | {blob_key(orphan_sha)}

    marker_alive = store.gc(keep_last=10, grace_seconds=0)
    assert marker_alive.deleted_blobs == () and marker_alive.deleted_manifests == ()
    assert set(marker_alive.protected) == {blob_key(orphan_sha), orphan_manifest}
    (marker,) = keys(store, PENDING)

    after_grace = store.gc(keep_last=10, grace_seconds=0, pending_ttl_seconds=0)
    assert after_grace.deleted_records == (marker,)
    assert keys(store, PENDING) == set()
    assert after_grace.deleted_blobs == (orphan_sha,)
    assert after_grace.deleted_manifests == (orphan_manifest.split("/")[-1][: -len(".json")],)
    assert after_grace.deleted_versions == ()
    assert keys(store, BLOBS) == blobs_before
    assert keys(store, MANIFESTS) == manifests_before
    fresh = storage.open_store(store.url, cache_dir=tmp_path / "fresh-cache", create=True)
    for number, data in committed.items():
        assert fresh.read_bytes("runs/r/checkpoint", number) == data
        assert fresh.get("runs/r/checkpoint", number).read_bytes() == data
    assert fresh.read_bytes("corpus/c/vocab") == b"vocab"


def test_gc_keeps_last_k_and_tagged_versions(store: storage.Store, tmp_path: Path) -> None:
    shared = os.urandom(500)
    payloads = {n: os.urandom(100 + n) for n in range(1, 6)}
    for n, own in payloads.items():
        (tmp_path / f"v{n}").mkdir()
        (tmp_path / f"v{n}" / "shared.bin").write_bytes(shared)
        (tmp_path / f"v{n}" / "own.bin").write_bytes(own)
        store.put("runs/r/checkpoint", tmp_path / f"v{n}")
    store.put_bytes("other/name", "x", b"x")
    store.tag("runs/r/checkpoint", 2, "best")
    before = keys(store, "")

    dry = store.gc(keep_last=2, grace_seconds=0, dry_run=True)

    assert dry.dry_run
    assert dry.deleted_versions == ("runs/r/checkpoint@v000001", "runs/r/checkpoint@v000003")
    assert set(dry.deleted_blobs) == {hashlib.sha256(payloads[n]).hexdigest() for n in (1, 3)}
    assert len(dry.deleted_manifests) == 2
    assert dry.kept_versions == (
        "other/name@v000001",
        "runs/r/checkpoint@v000002",
        "runs/r/checkpoint@v000004",
        "runs/r/checkpoint@v000005",
    )
    assert keys(store, "") == before  # a dry run deletes nothing

    real = store.gc(keep_last=2, grace_seconds=0)

    assert (real.deleted_versions, real.deleted_blobs) == (dry.deleted_versions, dry.deleted_blobs)
    assert real.freed_bytes == dry.freed_bytes > 201
    assert [v.number for v in store.versions("runs/r/checkpoint")] == [2, 4, 5]
    for n in (2, 4, 5):
        got = store.get("runs/r/checkpoint", n)
        assert read_tree(got) == {"shared.bin": shared, "own.bin": payloads[n]}
    again = store.gc(keep_last=2, grace_seconds=0)
    assert (again.deleted_versions, again.deleted_blobs, again.deleted_manifests) == ((), (), ())
