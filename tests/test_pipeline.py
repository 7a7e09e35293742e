"""The Prefect pipeline end to end, on a slice of a real corpus, against a real Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pipeline_helpers import REPO, final_table_bytes, final_weights, wikitext_slice

import storage
from flows.pipeline import lightrnn_pipeline
from flows.plan import plan_run
from lightrnn.errors import ConfigError, CorpusError

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return wikitext_slice(tmp_path_factory.mktemp("wt2-slice"))


def test_pipeline_runs_rounds_and_versions_every_artifact(prefect_api, corpus, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.settings import get_current_settings

    results = Path(get_current_settings().results.local_storage_path)
    started = time.time()

    url = f"file://{tmp_path}/store"
    assert storage.init_store(url) == "created"
    summary = lightrnn_pipeline(
        corpus=str(corpus),
        store=url,
        profile="tiny",
        stable_name="stable/smoke",
        publish_unconverged=True,
    )
    run, rows = summary["run"], summary["rounds"]
    assert summary["stop_reason"] in {"stable", "no_improvement", "max_rounds"}
    assert [r["round"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == 2 or summary["stop_reason"] != "max_rounds"
    store = storage.open_store(url)
    names = set(store.names())
    for r in rows:
        assert f"runs/{run}/round-{r['round']}/model" in names
        assert f"runs/{run}/round-{r['round']}/model-v1/eval/valid" in names
    derived = {f"runs/{run}/round-1/model-v1/costs", f"runs/{run}/round-1/model-v1/table-next"}
    assert derived <= names
    assert {f"runs/{run}/final", f"runs/{run}/report", "stable/smoke"} <= names
    assert any(n.startswith("corpora/") for n in names)
    assert any(n.startswith("tables/") for n in names)
    assert rows[0]["objective_after"] <= rows[0]["objective_before"]
    report = store.read_bytes(f"runs/{run}/report", filename="report.md").decode()
    assert "| round | steps | train_ppl | valid_ppl | words_moved |" in report
    assert f"runs/{run}/final" in report

    with get_client(sync_client=True) as client:
        keys = [f"report-{run}", f"rounds-{run}", f"train-{run}-round-1"]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )
    by_key = {}
    for a in artifacts:
        by_key.setdefault(a.key, []).append(a)
    assert by_key[f"report-{run}"][0].type == "markdown"
    assert "LightRNN run" in by_key[f"report-{run}"][0].data
    table = by_key[f"rounds-{run}"]
    assert table[0].type == "table" and len(table) == len(rows)  # a version per round
    progress = by_key[f"train-{run}-round-1"][0]
    assert progress.type == "progress" and progress.data == 100.0
    assert "steps" in progress.description

    # A second run on the same inputs is a store hit everywhere: no new version of anything,
    # the report included, and the report keeps the timings of the run that did the work.
    before = sorted(e.key for e in store.objects.list("refs/"))
    again = lightrnn_pipeline(
        corpus=str(corpus),
        store=url,
        profile="tiny",
        stable_name="stable/smoke",
        publish_unconverged=True,
    )
    assert again["run"] == run and again["test_ppl"] == summary["test_ppl"]
    assert sorted(e.key for e in store.objects.list("refs/")) == before
    assert again["report"] == summary["report"]
    assert again["seconds"] == summary["seconds"] and again["device"] == summary["device"]
    assert [r["seconds"] for r in again["rounds"]] == [r["seconds"] for r in summary["rounds"]]
    stored = store.resolve(f"runs/{run}/report").meta["summary"]
    assert stored["seconds"] == summary["seconds"]

    # Prefect persists a task's result once its cache key exists (its output is in the store,
    # as on this second run); what it writes is JSON, never pickle.
    written = [p for p in results.iterdir() if p.stat().st_mtime >= started]
    assert written
    for path in written:
        record = json.loads(path.read_bytes())
        assert record["metadata"]["serializer"]["type"] == "json", path

    # Prefect's cache never outlives the store: wiped, the store is rebuilt, not trusted.
    shutil.rmtree(tmp_path / "store")
    assert storage.init_store(url) == "created"
    rebuilt = lightrnn_pipeline(
        corpus=str(corpus),
        store=url,
        profile="tiny",
        stable_name="stable/smoke",
        publish_unconverged=True,
    )
    assert rebuilt["run"] == run and rebuilt["test_ppl"] == summary["test_ppl"]
    assert set(storage.open_store(url).names()) == names


KILL_SETTINGS = [
    "--set",
    "model.hidden_dim=96",
    "--set",
    "train.max_steps=240",
    "--set",
    "pipeline.checkpoint_steps=20",
    "--set",
    "train.eval_every=80",
    "--set",
    "train.early_stop_patience=0",
]


def _run_cli(args, server, **kw):
    return subprocess.Popen(
        [LIGHTRNN, "run", *args],
        env=server.env(),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **kw,
    )


def test_killed_run_resumes_from_checkpoint_and_ends_bitwise_equal(
    prefect_server, corpus, tmp_path
):
    args = ["--corpus", str(corpus), "--profile", "tiny", *KILL_SETTINGS]
    whole, killed = f"file://{tmp_path}/whole", f"file://{tmp_path}/killed"
    for url in (whole, killed):
        storage.init_store(url)
    proc = _run_cli([*args, "--store", whole], prefect_server)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()[-4000:]

    proc = _run_cli([*args, "--store", killed], prefect_server)
    checkpoints = Path(tmp_path / "killed" / "refs" / "runs")
    deadline = time.monotonic() + 300
    while not list(checkpoints.glob("*/round-2/checkpoint/v*.json")):
        assert proc.poll() is None, "the run ended before round 2 checkpointed"
        assert time.monotonic() < deadline, "no round-2 checkpoint within 5 minutes"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    store = storage.open_store(killed)
    run = next(checkpoints.iterdir()).name
    assert not store.exists(f"runs/{run}/round-2/model")  # killed mid-round
    round1 = store.versions(f"runs/{run}/round-1/model")

    proc = _run_cli([*args, "--store", killed], prefect_server)
    out, _ = proc.communicate(timeout=600)
    text = out.decode()
    assert proc.returncode == 0, text[-4000:]
    done = f"train-round: already in the store as runs/{run}/round-1/model@v000001"
    assert done in text or "train-round-1' - Finished in state Cached" in text
    assert "resuming round 2 from" in text
    assert store.versions(f"runs/{run}/round-1/model") == round1  # not retrained
    a, b = final_weights(whole, run), final_weights(killed, run)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert final_table_bytes(whole, run) == final_table_bytes(killed, run)


def test_bad_parameters_fail_before_any_work(corpus, tmp_path, monkeypatch):
    url = f"file://{tmp_path}/store"
    with pytest.raises(ConfigError, match="unknown profile 'huge': choose one of tiny, demo"):
        plan_run(str(corpus), url, "huge", None, None)
    with pytest.raises(ConfigError, match=r"override 'train\.learning_rate'.*fields: batch_size"):
        plan_run(str(corpus), url, "tiny", None, {"train.learning_rate": 1})
    with pytest.raises(CorpusError, match="does-not-exist"):
        plan_run(str(tmp_path / "does-not-exist"), url, "tiny", None, None)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    with pytest.raises(storage.StoreConnectionError, match=r"127\.0\.0\.1:9"):
        plan_run(str(corpus), "s3://bucket/prefix", "tiny", None, None)
    with pytest.raises(storage.StoreConnectionError, match=r"lightrnn store init file://"):
        plan_run(str(corpus), url, "tiny", None, None)  # a typo never starts a new store
    assert not (tmp_path / "store").exists()


def test_cli_prints_bad_input_as_one_line(tmp_path):
    proc = subprocess.run(
        [LIGHTRNN, "run", "--profile", "huge", "--store", f"file://{tmp_path}/s"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown profile 'huge'")
    assert "Traceback" not in proc.stderr


def test_two_identical_runs_at_once_never_interfere(prefect_server, corpus, tmp_path):
    """The run lease: a second identical run exits at once naming the holder, or (asked to
    wait) waits for the first and then reuses every artifact it made."""
    url = f"file://{tmp_path}/store"
    storage.init_store(url)
    args = ["--corpus", str(corpus), "--profile", "tiny", "--store", url, *QUICK]
    first = _run_cli(args, prefect_server)
    leases = tmp_path / "store" / "leases" / "runs"
    deadline = time.monotonic() + 300
    while not list(leases.glob("*/e*.json")):
        assert first.poll() is None, first.communicate()[0].decode()[-3000:]
        assert time.monotonic() < deadline, "the first run never took its lease"
        time.sleep(0.05)
    busy = _run_cli(args, prefect_server)
    waiting = _run_cli([*args, "--set", "pipeline.wait_minutes=10"], prefect_server)
    out, _ = busy.communicate(timeout=300)
    last = out.decode().strip().splitlines()[-1]
    assert busy.returncode == 2 and last.startswith("error: run ")
    assert "is being trained by another process" in last and "pipeline.wait_minutes" in last
    out_first, _ = first.communicate(timeout=600)
    out_waiting, _ = waiting.communicate(timeout=600)
    assert first.returncode == 0, out_first.decode()[-3000:]
    assert waiting.returncode == 0, out_waiting.decode()[-3000:]
    text = out_waiting.decode()
    assert "is held by another process" in text  # it logged who held the run while waiting
    store = storage.open_store(url)
    run = next(leases.iterdir()).name
    assert len(store.versions(f"runs/{run}/round-1/model")) == 1  # one lineage, not two
    assert len(store.versions(f"runs/{run}/final")) == 1


# Long enough that the first run still holds its lease when the second command has started
# (150 steps were over before a second `lightrnn` had loaded on a busy machine; CI saw it).
QUICK = ["--set", "train.max_steps=1500", "--set", "costs.max_tokens=5000"]
