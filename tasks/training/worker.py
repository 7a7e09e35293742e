"""The processes of a distributed round (see tasks/training/launch.py):

python -m tasks.training.worker agent [torchrun options] -m tasks.training.worker train JOB.json
    torchrun's agent, made to die with the task that started it (no orphaned processes)
python -m tasks.training.worker train JOB.json
    one training process: joins the process group, trains its rows; rank 0 commits
    checkpoints and the model, prints progress lines (`PROGRESS {json}`) and evaluations
    (`EVALUATED {json}`) for the task
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import logging
import signal
import sys
import traceback
from pathlib import Path

PROGRESS = "PROGRESS "
EVALUATED = "EVALUATED "
RESULT = "RESULT "
PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the process group only
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def agent(argv: list[str]) -> None:
    """torchrun, terminated (it then stops its workers) when the launching task dies."""
    die_with_parent(signal.SIGTERM)
    from torch.distributed.run import main

    main(argv)


def train(job_path: str) -> None:
    """One training process of the round in `job_path` (a RoundJob as JSON). It ends with
    exit_process() on every path, never with the interpreter's teardown (which can abort a
    process whose gloo threads are still finishing, see lightrnn.distributed.exit_process);
    a failure prints its traceback and exits 1, so that torchrun restarts the round."""
    die_with_parent(signal.SIGKILL)  # the agent gone, never train on alone
    from lightrnn.distributed import exit_process

    try:
        _train(job_path)
    except BaseException:  # reported here, then the process ends
        traceback.print_exc()
        exit_process(1)
    exit_process(0)


def _train(job_path: str) -> None:
    from pydantic import TypeAdapter

    import storage
    from lightrnn.distributed import init_world, leave_world
    from tasks.refs import RoundJob
    from tasks.training.round import train_round

    job = TypeAdapter(RoundJob).validate_json(Path(job_path).read_bytes())
    world = init_world()
    rank = world.rank if world else 0
    logging.basicConfig(level=logging.INFO, format=f"[rank {rank}] %(message)s", stream=sys.stdout)
    log = logging.getLogger("lightrnn.worker")
    store = storage.open_store(job.store_url)

    def progress(p: object) -> None:
        print(PROGRESS + json.dumps(dataclasses.asdict(p)), flush=True)  # type: ignore[arg-type]

    def evaluated(entry: dict[str, float]) -> None:
        print(EVALUATED + json.dumps(entry), flush=True)

    info = train_round(job, store, log, progress, world, evaluated)
    if info is not None:
        print(RESULT + json.dumps({"name": info.ref.name, "version": info.ref.version}), flush=True)
    leave_world(world)


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "agent":
        agent(rest)
    elif mode == "train":
        train(rest[0])
    else:
        raise SystemExit(f"usage: python -m tasks.training.worker agent|train ...; got {mode!r}")
