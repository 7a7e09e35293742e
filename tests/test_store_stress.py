"""Commits racing gc, on file:// and on a real S3 (SeaweedFS): nothing a reader needs is lost.

Writer processes commit dedup-heavy content (six 120 KB payloads, so most commits re-use blobs
whose older versions gc has just collected) while a gc process loops with a grace of 1 s or 0 s;
after every commit the writer reads its new version back through a fresh store with an empty
cache. Then writers are killed with SIGKILL at random moments: every version still referenced
stays readable, and gc collects what the dead writers left once their markers are stale.

The workers are functions of this file, run as `python test_store_stress.py ROLE ...`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
from store_backends import SHARED_BACKENDS, url_for

REPO = Path(__file__).resolve().parents[1]
PAYLOADS = 6
PAYLOAD_BYTES = 120_000


def payload(i: int) -> bytes:
    """The i-th of the few contents every writer draws from (identical across processes)."""
    seed = hashlib.sha256(f"payload-{i}".encode()).digest()
    return (seed * (PAYLOAD_BYTES // len(seed) + 1))[:PAYLOAD_BYTES]


# -- the worker processes -------------------------------------------------------------------
def writer(url: str, name: str, commits: int, seed: int, out: str) -> None:
    """Commit `commits` versions of `name`; read each back through a fresh store and cache."""
    import storage

    rng = random.Random(seed)
    store = storage.open_store(url, cache_dir=tempfile.mkdtemp(prefix="w-cache-"), create=True)
    results = {"commits": 0, "unreadable": [], "crashes": []}
    for step in range(commits):
        data = payload(rng.randrange(PAYLOADS))
        try:
            version = store.put_bytes(name, "w.bin", data, meta={"step": step, "seed": seed})
        except Exception as exc:  # a writer crash: counted, and the writer goes on
            results["crashes"].append(f"step {step}: {type(exc).__name__}: {exc}")
            continue
        results["commits"] += 1
        cache = tempfile.mkdtemp(prefix="r-cache-")
        try:
            fresh = storage.open_store(url, cache_dir=cache, create=True)
            if fresh.get(name, version.number).read_bytes() != data:
                raise AssertionError("wrong bytes")
        except Exception as exc:
            results["unreadable"].append(f"{version.ref}: {type(exc).__name__}: {exc}")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    Path(out).write_text(json.dumps(results))


def collector(url: str, grace: float, stop: str, out: str) -> None:
    """Loop gc(keep_last=1) with a short grace until the file `stop` appears."""
    import storage

    store = storage.open_store(url, cache_dir=tempfile.mkdtemp(prefix="gc-cache-"), create=True)
    runs, errors, deleted = 0, [], 0
    while not os.path.exists(stop):
        try:
            deleted += len(store.gc(keep_last=1, grace_seconds=grace).deleted_blobs)
            runs += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    Path(out).write_text(json.dumps({"runs": runs, "errors": errors, "deleted_blobs": deleted}))


def endless_writer(url: str, name: str, seed: int) -> None:
    """Commit until killed (the test sends SIGKILL at a random moment)."""
    import storage

    rng = random.Random(seed)
    store = storage.open_store(url, cache_dir=tempfile.mkdtemp(prefix="k-cache-"), create=True)
    print("ready", flush=True)
    step = 0
    while True:
        store.put_bytes(name, "w.bin", payload(rng.randrange(PAYLOADS)), meta={"step": step})
        step += 1


# -- helpers --------------------------------------------------------------------------------
def spawn(*args: str, stdout: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, __file__, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float) -> None:
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()[-3000:]


BACKENDS = [
    pytest.param("file", 125, id="file"),
    pytest.param("s3", 45, id="s3", marks=pytest.mark.s3),
]


# -- the tests ------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("grace", [1.0, 0.0])
@pytest.mark.parametrize(("backend", "commits"), BACKENDS)
def test_commits_racing_gc_stay_readable(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, commits: int, grace: float
) -> None:
    url = url_for(request, backend, tmp_path)
    writers, stop = 3, tmp_path / "stop"
    gc_out = tmp_path / "gc.json"
    started = time.monotonic()
    gc_proc = spawn("collector", url, str(grace), str(stop), str(gc_out))
    procs = [
        spawn("writer", url, f"ckpt/w{i}", str(commits), str(i), str(tmp_path / f"w{i}.json"))
        for i in range(writers)
    ]
    try:
        for proc in procs:
            finish(proc, timeout=300)
    finally:
        stop.touch()
        finish(gc_proc, timeout=120)
    elapsed = time.monotonic() - started

    results = [json.loads((tmp_path / f"w{i}.json").read_text()) for i in range(writers)]
    gc_report = json.loads(gc_out.read_text())
    committed = sum(r["commits"] for r in results)
    unreadable = [u for r in results for u in r["unreadable"]]
    crashes = [c for r in results for c in r["crashes"]]
    print(
        f"{backend} grace={grace}: {committed} commits, {gc_report['runs']} gc runs "
        f"({gc_report['deleted_blobs']} blobs deleted) in {elapsed:.1f} s"
    )
    assert crashes == [], f"{len(crashes)} writer crashes, e.g. {crashes[:3]}"
    assert unreadable == [], f"{len(unreadable)} of {committed} unreadable: {unreadable[:3]}"
    assert gc_report["errors"] == []
    assert committed == writers * commits
    assert gc_report["runs"] > 0 and gc_report["deleted_blobs"] > 0  # gc really raced


@pytest.mark.slow
@pytest.mark.parametrize("backend", SHARED_BACKENDS)
def test_writers_killed_at_random_lose_nothing_reachable(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str
) -> None:
    import storage
    from storage.records.layout import BLOBS, MANIFESTS, blob_sha, manifest_digest

    url = url_for(request, backend, tmp_path)
    rng = random.Random(7)
    stop = tmp_path / "stop"
    gc_proc = spawn("collector", url, "0", str(stop), str(tmp_path / "gc.json"))
    kills = 0
    try:
        for round_ in range(4):
            procs = [
                spawn("endless", url, f"ckpt/k{i}", str(round_ * 10 + i), stdout=subprocess.PIPE)
                for i in range(3)
            ]
            for proc in procs:
                assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
            for proc in procs:  # each dies at a random moment of its commit loop
                time.sleep(rng.uniform(0.1, 1.5))
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                kills += 1
    finally:
        stop.touch()
        finish(gc_proc, timeout=120)
    assert json.loads((tmp_path / "gc.json").read_text())["errors"] == []

    store = storage.open_store(url, cache_dir=tmp_path / "check", create=True)
    names = store.names()
    committed = sum(store.resolve(name).number for name in names)  # numbers are never reused
    assert committed >= 10, f"only {committed} commits before the kills: the test tests little"
    store.gc(keep_last=1, grace_seconds=0)
    readable = 0
    for name in names:
        for version in store.versions(name):  # everything still referenced reads back whole
            fresh = storage.open_store(
                url, cache_dir=tmp_path / f"c-{uuid.uuid4().hex}", create=True
            )
            data = fresh.get(name, version.number).read_bytes()
            assert hashlib.sha256(data).hexdigest() == version.files["w.bin"]["sha256"]
            readable += 1

    # The dead writers' markers protect their uploads until they are stale; then gc takes them.
    report = store.gc(keep_last=1, grace_seconds=0, pending_ttl_seconds=0)
    live_blobs = {v.files["w.bin"]["sha256"] for n in names for v in store.versions(n)}
    live_manifests = {v.digest for n in names for v in store.versions(n)}
    assert {blob_sha(e.key) for e in store.objects.list(BLOBS)} == live_blobs
    assert {manifest_digest(e.key) for e in store.objects.list(MANIFESTS)} == live_manifests
    leftovers = [e.key for e in store.objects.list("") if e.key.startswith((".tmp/", "pending/"))]
    assert leftovers == []
    print(
        f"{backend}: {kills} writers killed after {committed} commits, {readable} versions "
        f"readable; {report.summary()}"
    )


if __name__ == "__main__":
    role, *args = sys.argv[1:]
    if role == "writer":
        writer(args[0], args[1], int(args[2]), int(args[3]), args[4])
    elif role == "collector":
        collector(args[0], float(args[1]), args[2], args[3])
    elif role == "endless":
        endless_writer(args[0], args[1], int(args[2]))
    else:
        raise SystemExit(f"unknown role {role!r}")
