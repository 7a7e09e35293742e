"""Shared pieces of the distributed tests: processes that join one gloo group on this machine,
and a round's job in a real store (a corpus slice and a table), without Prefect."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch.multiprocessing as mp

import storage
from lightrnn.corpus import CorpusConfig, find_splits, prepare
from lightrnn.table import Table
from tasks import names
from tasks.artifacts import put_table
from tasks.refs import CorpusInfo, Ref, RoundJob
from tasks.settings import RunSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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

    from lightrnn.distributed import init_world, leave_world

    torch.set_num_threads(1)
    world = init_world(timeout_s=120)
    try:
        fn(world, *args)
    finally:
        leave_world(world)


def run_processes(fn: Callable[..., Any], size: int, *args: Any) -> None:
    """fn(world, *args) in `size` fresh processes that form one process group."""
    mp.start_processes(
        _entry, args=(size, free_port(), fn, args), nprocs=size, start_method="spawn", join=True
    )


def prepared_job(root: Path, corpus: Path, settings: RunSettings, round_index: int = 1) -> RoundJob:
    """A round-1 job in a file store under `root`: `corpus` prepared, a seeded random table."""
    url = f"file://{root}/store"
    store = storage.open_store(url, cache_dir=root / "cache")
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(find_splits(str(corpus)), tmp, CorpusConfig(workers=1))
        meta = {"digest": prepared.digest, "vocab_size": len(prepared.vocab)}
        tokens = {s: info.tokens for s, info in prepared.splits.items()}
        ref = Ref.of(store.put(f"corpora/{prepared.digest[:16]}", tmp, meta=meta, kind="corpus"))
    info = CorpusInfo(
        ref,
        prepared.digest,
        len(prepared.vocab),
        tokens,
        {"tokenizer": "whitespace", "lowercase": False},
    )
    table = Table.random(info.vocab_size, seed=settings.pipeline.seed)
    table_ref = put_table(store, names.initial_table(info.digest, 0, None), table, {}, [str(ref)])
    return RoundJob(url, "test-run", round_index, info, table_ref, None, settings)
