"""The pipeline on S3 through an outage: the server stopped for ~20 s during training, then back:
the run completes and ends equal to an uninterrupted one; stopped for good: a clear one-line
error, and a re-run after the server is back resumes from the checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from pipeline_helpers import REPO, wikitext_slice
from safetensors.torch import load_file

import storage

pytestmark = [pytest.mark.s3, pytest.mark.prefect, pytest.mark.slow]
LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")
SETTINGS = [
    "--profile",
    "tiny",
    "--max-rounds",
    "1",
    "--set",
    "train.max_steps=120",
    "--set",
    "pipeline.checkpoint_steps=20",
    "--set",
    "train.eval_every=60",
]


def run(server_env, corpus, url, **extra_env):
    storage.init_store(url)  # idempotent: a re-run finds its store
    return subprocess.Popen(
        [LIGHTRNN, "run", "--corpus", str(corpus), "--store", url, *SETTINGS],
        env={**server_env, **os.environ, **extra_env},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_for_checkpoint(url: str, proc: subprocess.Popen, tmp_path: Path) -> None:
    deadline = time.monotonic() + 300
    while True:
        store = storage.open_store(url, cache_dir=tmp_path / "probe")
        if any(n.endswith("/round-1/checkpoint") for n in store.names("runs/")):
            return
        assert proc.poll() is None, proc.communicate()[0].decode()[-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.2)


def final_weights(url: str, tmp_path: Path) -> dict[str, torch.Tensor]:
    store = storage.open_store(url, cache_dir=tmp_path / "read")
    (name,) = [n for n in store.names("runs/") if n.endswith("/final")]
    return load_file(store.get(name) / "model.safetensors")


def test_a_run_rides_out_an_outage_and_resumes_after_a_long_one(
    prefect_server, restartable_s3, tmp_path
):
    corpus = wikitext_slice(tmp_path / "corpus", 500, 60)
    env = prefect_server.env()
    whole = run(env, corpus, restartable_s3.url("whole"))
    assert whole.wait(timeout=600) == 0, whole.communicate()[0].decode()[-3000:]
    expected = final_weights(restartable_s3.url("whole"), tmp_path)

    # ~20 s down during training: the store's own retries ride it out.
    url = restartable_s3.url("brief")
    proc = run(env, corpus, url)
    wait_for_checkpoint(url, proc, tmp_path)
    restartable_s3.stop()
    time.sleep(20)
    restartable_s3.start()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out.decode()[-3000:]
    got = final_weights(url, tmp_path)
    assert all(torch.equal(got[k], expected[k]) for k in expected)

    # Down for good (a short retry budget here): one clear line; back up, a re-run resumes.
    url = restartable_s3.url("long")
    proc = run(env, corpus, url, LIGHTRNN_STORE_RETRY_SECONDS="2")
    wait_for_checkpoint(url, proc, tmp_path)
    restartable_s3.stop()
    out, _ = proc.communicate(timeout=600)
    last = out.decode().strip().splitlines()[-1]
    assert proc.returncode == 2 and last.startswith("error: connection to S3 endpoint")
    assert "set LIGHTRNN_STORE_RETRY_SECONDS" in last
    restartable_s3.start()
    again = run(env, corpus, url)
    out, _ = again.communicate(timeout=600)
    assert again.returncode == 0, out.decode()[-3000:]
    assert "resuming round 1 from" in out.decode()
    got = final_weights(url, tmp_path)
    assert all(torch.equal(got[k], expected[k]) for k in expected)
