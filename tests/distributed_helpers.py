"""Shared pieces of the distributed tests: processes that join one gloo group on this machine,
and a round's job in a real store (a corpus slice and a table), without Prefect."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp
from ports import free_port
from store_backends import new_store

from tasks.jobs import first_round
from tasks.refs import RoundJob
from tasks.settings import RunSettings


def _entry(rank: int, size: int, port: int, fn: Callable[..., Any], args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        OMP_NUM_THREADS="1",
    )
    import torch

    from lightrnn.distributed import exit_process, init_world, leave_world

    torch.set_num_threads(1)
    world = init_world(timeout_s=120)
    try:
        fn(world, *args)
    finally:
        leave_world(world)
    exit_process(0)  # as the training processes end (a failure above reaches the parent)


def run_processes(fn: Callable[..., Any], size: int, *args: Any) -> None:
    """fn(world, *args) in `size` fresh processes that form one process group."""
    mp.start_processes(
        _entry, args=(size, free_port(), fn, args), nprocs=size, start_method="spawn", join=True
    )


def prepared_job(root: Path, corpus: Path, settings: RunSettings) -> RoundJob:
    """Round 1 of run "test-run" in a file store under `root`."""
    return first_round(new_store(f"file://{root}/store"), str(corpus), settings, run_key="test-run")
