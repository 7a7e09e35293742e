"""Launching a round's training processes with PyTorch's elastic launcher (torchrun).

    task process --(new process group, dies with the task)--> torchrun agent
        --> launch.nproc workers (python -m tasks.training.worker train JOB.json) on this node
    other nodes: the same agent with --node-rank K (see `lightrnn node`, docs/scaling.md)

The agent restarts every worker from the newest checkpoint when one fails, up to
launch.max_restarts times, then fails the round. The task streams the workers' output into its
log and rank 0's progress into the progress artifact. When the task ends for any reason
(failure, cancellation, the flow run killed), the whole group is stopped: SIGTERM to the agent,
which stops its workers; SIGKILL after a grace period; and every worker is made to die with
the agent, so no training process outlives its run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from lightrnn.errors import TrainingError
from lightrnn.train import TrainProgress
from tasks.refs import RoundJob
from tasks.settings import LaunchConfig
from tasks.training.worker import EVALUATED, PROGRESS, RESULT

STOP_GRACE_SECONDS = 40  # torchrun gives its workers 30 s after SIGTERM


def torchrun_options(cfg: LaunchConfig, run_id: str) -> list[str]:
    """The launcher's options: processes per node, nodes, restarts and the rendezvous."""
    options = [f"--nproc-per-node={cfg.nproc}", f"--max-restarts={cfg.max_restarts}"]
    if cfg.nnodes == 1 and not cfg.rdzv_endpoint:
        return [*options, "--standalone"]
    host, _, port = cfg.rdzv_endpoint.rpartition(":")
    options.append(f"--nnodes={cfg.nnodes}")
    if cfg.node_rank >= 0:  # static rendezvous: every node knows its rank
        return [
            *options,
            f"--node-rank={cfg.node_rank}",
            f"--master-addr={host}",
            f"--master-port={port}",
        ]
    return [
        *options,
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={cfg.rdzv_endpoint}",
        f"--rdzv-id={run_id}",
    ]


def agent_command(cfg: LaunchConfig, run_id: str, job_path: Path) -> list[str]:
    """The torchrun agent's command line: it starts the workers that train the job at
    `job_path` (`python -m tasks.training.worker train JOB.json`)."""
    worker = [sys.executable, "-m", "tasks.training.worker"]
    options = torchrun_options(cfg, run_id)
    return [*worker, "agent", *options, "-m", "tasks.training.worker", "train", str(job_path)]


def launch_round(
    job: RoundJob,
    log: Callable[[str], None],
    progress: Callable[[TrainProgress], None] | None = None,
    evaluated: Callable[[dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Run the job's training processes to the end; rank 0's result ({"name", "version"} of
    the committed model). Raises TrainingError, with the processes' last lines, on failure."""
    cfg = job.settings.launch
    with tempfile.TemporaryDirectory(prefix="lightrnn-round-") as tmp:
        job_path = Path(tmp) / "job.json"
        job_path.write_bytes(TypeAdapter(RoundJob).dump_json(job))
        command = agent_command(cfg, f"{job.run_key}-round-{job.round_index}", job_path)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        }
        proc = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        tail: deque[str] = deque(maxlen=30)
        result: dict[str, Any] = {}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if line.startswith(PROGRESS):
                    if progress is not None:
                        progress(TrainProgress(**json.loads(line[len(PROGRESS) :])))
                elif line.startswith(EVALUATED):
                    if evaluated is not None:
                        evaluated(json.loads(line[len(EVALUATED) :]))
                elif line.startswith(RESULT):
                    result = json.loads(line[len(RESULT) :])
                else:
                    tail.append(line)
                    log(line)
            code = proc.wait()
        finally:
            stop(proc)
    leads = cfg.nnodes == 1 or cfg.node_rank <= 0  # global rank 0 runs here
    if code != 0 or (leads and not result):
        last = "\n".join(tail)
        raise TrainingError(
            f"round {job.round_index} on {cfg.nproc} process(es) x {cfg.nnodes} node(s) failed "
            f"(torchrun exit code {code}, after up to {cfg.max_restarts} restarts): fix the "
            f"cause below and run again (it resumes from the last checkpoint)\n{last}"
        )
    return result


def stop(proc: subprocess.Popen) -> None:
    """Stop the agent's process group: SIGTERM, then SIGKILL after the grace period."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
