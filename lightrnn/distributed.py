"""Data parallelism on PyTorch's own engine (torch.distributed, DDP), launched by torchrun.

Each of the `size` processes trains on its own rows of the batch: the stream is cut into
batch_size x size rows (the global batch) and process r reads rows [r * batch_size, (r + 1) *
batch_size). DistributedDataParallel averages the gradients, so after every step all processes
hold the same parameters, equal (within float tolerance) to one process on the whole batch.
Evaluation and cost accumulation split the stream's segments over the processes and add their
sums (float64), so every process sees the single-process numbers.

    world = init_world()            # from torchrun's environment; None when run alone
    trainer = Trainer(model, train, valid, config, world=world)
    ...
    leave_world(world)              # together: no process tears down while a peer still talks
    exit_process(0)                 # flushed, and no interpreter teardown (see exit_process)

Backends: `nccl` on CUDA, `gloo` on the CPU; host-side reductions (numpy sums, objects) always
go through a gloo group, so they work whatever the device.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np
import torch
import torch.distributed as dist

from lightrnn.errors import ConfigError


@dataclass(frozen=True)
class World:
    """This process's place among the training processes."""

    rank: int  # 0 .. size - 1; rank 0 reports and checkpoints
    size: int
    local_rank: int  # on this machine: which GPU to use
    host_group: Any  # a gloo process group for host-side reductions

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self) -> torch.device:
        """This process's device: its own GPU (by local rank) when CUDA is there, else CPU."""
        if torch.cuda.is_available():
            return torch.device("cuda", self.local_rank % torch.cuda.device_count())
        return torch.device("cpu")

    def part(self) -> tuple[int, int]:
        """(rank, size): which share of the evaluation segments is this process's."""
        return self.rank, self.size

    # -- reductions ------------------------------------------------------------------------

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over all processes of a float64 tensor (on the host)."""
        values = values.detach().to("cpu", torch.float64).clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM, group=self.host_group)
        return values

    def sum_array_to_main(self, array: np.ndarray) -> np.ndarray:
        """Element-wise sum of a numpy array over all processes, on rank 0 (others: theirs)."""
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        dist.reduce(tensor, dst=0, op=dist.ReduceOp.SUM, group=self.host_group)
        return tensor.numpy()

    def gather(self, obj: Any) -> list[Any]:
        """Every process's `obj`, in rank order, on every process."""
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj, group=self.host_group)
        return out

    def from_main(self, obj: Any) -> Any:
        """Rank 0's `obj`, on every process."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.host_group)
        return box[0]

    def any(self, flag: bool) -> bool:
        """True on every process when `flag` is True on any."""
        return bool(self.sum(torch.tensor([float(flag)]))[0] > 0)


def launched() -> bool:
    """True in a process started by torchrun (or any launcher that sets WORLD_SIZE > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_world(timeout_s: float = 600.0) -> World | None:
    """Join the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT
    in the environment); None when this process runs alone. A peer that stops answering makes
    collectives fail after `timeout_s` instead of hanging."""
    if not launched():
        return None
    if not dist.is_available():
        raise ConfigError("this PyTorch build has no torch.distributed: train in one process")
    timeout = datetime.timedelta(seconds=timeout_s)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank % torch.cuda.device_count())
    if not dist.is_initialized():
        rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group(
            backend=backend,
            store=_store(rank, size, timeout),
            rank=rank,
            world_size=size,
            timeout=timeout,
        )
    host = (
        dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else dist.group.WORLD
    )
    return World(dist.get_rank(), dist.get_world_size(), local_rank, host)


def _store(rank: int, size: int, timeout: datetime.timedelta) -> dist.Store:
    """The rendezvous store, its keys apart for each restart of the workers: after a restart
    the new processes must not read the addresses the dead ones published (they would wait
    on them forever)."""
    agent_hosts = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(
        host_name=os.environ["MASTER_ADDR"],
        port=int(os.environ["MASTER_PORT"]),
        world_size=size,
        is_master=rank == 0 and not agent_hosts,
        timeout=timeout,
        wait_for_workers=False,
    )
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"lightrnn/attempt-{attempt}", store)


def leave_world(world: World | None) -> None:
    """Leave the process group after the last collective, all processes together: a barrier
    first, so that no process closes its connections (and rank 0, in processes started without
    torchrun's agent, the rendezvous store it hosts) while a peer is still reading from them."""
    if world is None or not dist.is_initialized():
        return
    dist.barrier(group=world.host_group)
    dist.destroy_process_group()


def exit_process(code: int) -> NoReturn:
    """End this training process now, with its output flushed but without the interpreter's
    teardown. gloo's worker threads outlive destroy_process_group(); one that still releases
    a collective's tensors while Python finalizes asks for the GIL, Python ends that thread,
    and the C++ runtime aborts the process with SIGABRT ("terminate called without an active
    exception"): seen on busy machines, at random, on a rank that had finished its work."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
