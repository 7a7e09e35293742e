"""Data-parallel training on torch.distributed (gloo on the CPU): two processes equal one on
the concatenated batch; costs and evaluation split and summed; rounds launched by torchrun
resume bitwise after SIGKILL, survive a killed rank, run on two "nodes", and leave nothing."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from distributed_helpers import prepared_job, run_processes
from pipeline_helpers import tiny_run, wikitext_slice
from ports import free_port
from store_backends import new_store

import storage
from flows.profiles import resolve
from lightrnn import Table
from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.costs import CostConfig, accumulate_costs
from lightrnn.distributed import leave_world
from lightrnn.evaluate import evaluate
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.train import TrainConfig, Trainer
from tasks.training.launch import agent_command, launch_round
from tasks.training.round import train_round

pytestmark = pytest.mark.slow
V = 40
STREAM = np.random.default_rng(0).integers(0, V, 6_000).astype(np.int32)


def build(kind: str):
    torch.manual_seed(0)
    if kind == "lightrnn":
        return LightRNN(LightRNNConfig(V, 8, 16, 2, amp=False), Table.random(V, seed=1))
    return BaselineLM(BaselineConfig(V, 8, 16, 2, softmax=kind, cutoffs=(8, 20), amp=False))


def config(batch_size: int) -> TrainConfig:
    return TrainConfig(
        batch_size=batch_size,
        bptt=7,
        optimizer="adam",
        lr=0.01,
        max_steps=6,
        eval_every=3,
        eval_tokens=1000,
        early_stop_patience=0,
    )


def _train_two(world, kind: str, out: str) -> None:
    trainer = Trainer(build(kind), STREAM, STREAM[:1500], config(3), world=world)
    trainer.run()
    if world.is_main:
        grads = {n: p.grad for n, p in trainer.model.named_parameters()}
        torch.save(
            {"params": trainer.model.state_dict(), "grads": grads, "history": trainer.history}, out
        )


@pytest.mark.parametrize("kind", ["lightrnn", "full", "adaptive"])
def test_two_processes_equal_one_on_the_concatenated_batch(kind, tmp_path):
    out = str(tmp_path / "two.pt")
    run_processes(_train_two, 2, kind, out)
    two = torch.load(out, weights_only=True)
    one = Trainer(build(kind), STREAM, STREAM[:1500], config(6))  # rows 0-2 and 3-5
    one.run()
    for name, p in one.model.named_parameters():
        torch.testing.assert_close(two["grads"][name], p.grad, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(two["params"][name], p.detach(), atol=1e-6, rtol=1e-5)
    assert [h["step"] for h in two["history"]] == [h["step"] for h in one.history]
    for a, b in zip(two["history"], one.history, strict=True):  # split evaluation, summed
        assert a["valid_ppl"] == pytest.approx(b["valid_ppl"], rel=1e-6)


def _costs_two(world, out: str) -> None:
    model = build("lightrnn")
    costs = accumulate_costs(model, STREAM, CostConfig(batch_size=5, bptt=9), world=world)
    ppl = evaluate(model, STREAM, batch_size=5, bptt=9, world=world).ppl
    if world.is_main:
        torch.save(
            {
                "rows": torch.from_numpy(costs.rows),
                "cols": torch.from_numpy(costs.cols),
                "counts": torch.from_numpy(costs.counts),
                "tokens": costs.tokens,
                "ppl": ppl,
            },
            out,
        )


def test_costs_and_evaluation_on_two_processes_equal_one(tmp_path):
    out = str(tmp_path / "costs.pt")
    run_processes(_costs_two, 2, out)
    two = torch.load(out, weights_only=True)
    model = build("lightrnn")
    one = accumulate_costs(model, STREAM, CostConfig(batch_size=5, bptt=9))
    assert one.rows.dtype == np.float64 and two["tokens"] == one.tokens == len(STREAM)
    # float32 block sums (as in one process) taken in another order: equal to ~1e-7
    np.testing.assert_allclose(two["rows"].numpy(), one.rows, rtol=2e-6)
    np.testing.assert_allclose(two["cols"].numpy(), one.cols, rtol=2e-6)
    np.testing.assert_array_equal(two["counts"].numpy(), one.counts)
    assert two["ppl"] == pytest.approx(evaluate(model, STREAM, batch_size=5, bptt=9).ppl, rel=1e-12)


def _leave_unevenly(world, out: str) -> None:
    if world.rank == 1:
        time.sleep(1.5)  # rank 1 finishes its work 1.5 s after rank 0
    arrived = time.time()
    leave_world(world)
    Path(f"{out}.{world.rank}").write_text(json.dumps([arrived, time.time()]))


def test_a_process_that_finishes_first_leaves_with_the_others_and_all_exit_cleanly(tmp_path):
    """Rank 0 (which hosts the rendezvous store here) must not close its connections while
    rank 1 still uses them; both processes then exit 0 (an abort raises in run_processes)."""
    out = str(tmp_path / "times")
    run_processes(_leave_unevenly, 2, out)
    times = [json.loads(Path(f"{out}.{rank}").read_text()) for rank in (0, 1)]
    (arrived0, left0), (arrived1, left1) = times
    assert arrived0 < arrived1 <= left0 and arrived1 <= left1


def test_a_failing_training_process_prints_its_error_and_exits_1(tmp_path):
    """The worker's every exit goes through exit_process: here, a job file that is not there."""
    missing = tmp_path / "no-job.json"
    done = subprocess.run(
        [sys.executable, "-m", "tasks.training.worker", "train", str(missing)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 1
    assert "FileNotFoundError" in done.stderr and str(missing) in done.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return wikitext_slice(tmp_path_factory.mktemp("ddp-corpus"), 300, 40)


def job_for(root: Path, corpus: Path, **overrides):
    values = {
        "train.max_steps": 40,
        "train.eval_every": 20,
        "pipeline.checkpoint_steps": 10,
        "launch.nproc": 2,
        **overrides,
    }
    return prepared_job(root, corpus, resolve("tiny", values))


def final_params(job) -> dict[str, torch.Tensor]:
    store = storage.open_store(job.store_url)
    return torch.load(store.get("runs/test-run/round-1/model") / "weights.pt", weights_only=True)


def agent(job, root: Path, **env) -> subprocess.Popen:
    """The launcher's own command, started here so that the test can kill it."""
    from pydantic import TypeAdapter

    from tasks.refs import RoundJob

    path = root / "job.json"
    path.write_bytes(TypeAdapter(RoundJob).dump_json(job))
    command = agent_command(job.settings.launch, "t", path)
    return subprocess.Popen(
        command,
        env={**os.environ, **env},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(path_glob: Path, pattern: str, proc: subprocess.Popen, timeout: float = 240):
    deadline = time.monotonic() + timeout
    while not list(path_glob.glob(pattern)):
        assert proc.poll() is None, f"the run ended before {pattern} appeared"
        assert time.monotonic() < deadline, f"no {pattern} within {timeout} s"
        time.sleep(0.05)


def workers() -> list[int]:
    """Pids of training processes still running on this machine."""
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"tasks.training.worker train" in cmd and b"agent" not in cmd:
            found.append(int(pid))
    return found


def test_a_killed_two_process_round_resumes_bitwise_and_on_one_process(corpus, tmp_path):
    whole = job_for(tmp_path / "whole", corpus)
    launch_round(whole, lambda _: None)
    killed = job_for(tmp_path / "killed", corpus)
    proc = agent(killed, tmp_path / "killed")
    refs = tmp_path / "killed" / "store" / "refs" / "runs" / "test-run" / "round-1"
    wait_for(refs, "checkpoint/v000002.json", proc)
    os.killpg(proc.pid, signal.SIGKILL)  # the agent, mid-round: its workers die with it
    proc.wait()
    deadline = time.monotonic() + 10
    while workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers(), "training processes outlived their agent"
    assert not (refs / "model").exists()
    launch_round(killed, lambda _: None)  # resumes from the last checkpoint
    a, b = final_params(whole), final_params(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)

    alone = job_for(tmp_path / "alone", corpus)
    store = storage.open_store(alone.store_url)
    partial = job_for(tmp_path / "alone", corpus, **{"train.max_steps": 20})
    proc = agent(partial, tmp_path / "alone")
    assert proc.wait(timeout=240) == 0  # a two-process checkpoint at step 20...
    store.retract("runs/test-run/round-1/model", 1, reason="resume on one process instead")
    one = job_for(tmp_path / "alone", corpus, **{"launch.nproc": 1})
    info = train_round(
        one, store, logging.getLogger("test-round"), world=None
    )  # ... resumed by one process
    assert info.steps == 40 and info.processes == 1


def test_a_killed_rank_restarts_the_round_from_its_checkpoint_or_fails_it(corpus, tmp_path):
    job = job_for(tmp_path / "restart", corpus, **{"train.max_steps": 80, "launch.max_restarts": 1})
    proc = agent(job, tmp_path / "restart")
    refs = tmp_path / "restart" / "store" / "refs" / "runs" / "test-run" / "round-1"
    wait_for(refs, "checkpoint/v000001.json", proc)
    os.kill(max(workers()), signal.SIGKILL)
    assert proc.wait(timeout=300) == 0  # restarted from the checkpoint, then finished
    assert (refs / "model" / "v000001.json").exists()

    job = job_for(tmp_path / "fail", corpus, **{"train.max_steps": 80, "launch.max_restarts": 0})
    proc = agent(job, tmp_path / "fail")
    refs = tmp_path / "fail" / "store" / "refs" / "runs" / "test-run" / "round-1"
    wait_for(refs, "checkpoint/v000001.json", proc)
    os.kill(max(workers()), signal.SIGKILL)
    assert proc.wait(timeout=120) != 0  # no restarts left: the round fails, nothing hangs
    assert not workers()


def test_two_nodes_on_this_machine_run_the_pipeline(prefect_server, corpus, tmp_path):
    """Two "machines" on 127.0.0.1: node 0 runs the pipeline, node 1 follows (`lightrnn
    node`); their launchers meet in a static rendezvous every round."""
    lightrnn = str(Path(sys.executable).parent / "lightrnn")
    store, endpoint = new_store(f"file://{tmp_path}/store"), f"127.0.0.1:{free_port()}"
    follower = subprocess.Popen(
        [
            lightrnn,
            "node",
            "--store",
            store,
            "--rdzv-endpoint",
            endpoint,
            "--node-rank",
            "1",
            "--timeout-minutes",
            "5",
        ],
        env=prefect_server.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lead = subprocess.run(
        tiny_run(
            corpus,
            store,
            "train.max_steps=30",
            "launch.nnodes=2",
            "launch.node_rank=0",
            f"launch.rdzv_endpoint={endpoint}",
            "costs.max_tokens=5000",
        ),
        env=prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert lead.returncode == 0, lead.stderr[-3000:]
    assert "on 1 process(es) x 2 node(s): global batch 16 x 2 = 32 rows" in lead.stderr
    out, _ = follower.communicate(timeout=120)
    assert follower.returncode == 0 and "node 1: 2 round(s) trained" in out, out[-3000:]
    opened = storage.open_store(store)
    (model,) = [n for n in opened.names("runs/") if n.endswith("/round-2/model")]
    assert opened.resolve(model).meta["summary"]["processes"] == 2


def test_the_pipeline_on_two_processes_and_a_stop_that_leaves_nothing(
    prefect_server, corpus, tmp_path
):
    """`lightrnn run --set launch.nproc=2` end to end; then a run stopped as Prefect stops a
    cancelled flow run (SIGTERM to the flow's process): every training process goes with it."""
    settings = ("launch.nproc=2", "costs.max_tokens=5000")
    done = subprocess.run(
        tiny_run(corpus, new_store(f"file://{tmp_path}/done"), *settings, "train.max_steps=40"),
        env=prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "on 2 process(es) x 1 node(s): global batch 16 x 2 = 32 rows" in done.stderr
    assert "stopped:" in done.stdout
    store = storage.open_store(f"file://{tmp_path}/done")
    (final,) = [n for n in store.names("runs/") if n.endswith("/round-1/model")]
    assert store.resolve(final).meta["summary"]["processes"] == 2

    run = subprocess.Popen(
        tiny_run(
            corpus, new_store(f"file://{tmp_path}/stopped"), *settings, "train.max_steps=2000"
        ),
        env=prefect_server.env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while len(workers()) < 2:
        assert run.poll() is None and time.monotonic() < deadline, "no training processes"
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)
    run.wait(timeout=120)
    deadline = time.monotonic() + 60
    while (workers() or agents()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not workers() and not agents(), "training processes outlived the stopped run"


def agents() -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if b"tasks.training.worker agent" in cmd:
            found.append(int(pid))
    return found
