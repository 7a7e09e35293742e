"""A training run's state and results: what checkpoints hold and what callers read."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from lightrnn.errors import TrainingError
from lightrnn.progress import eta_seconds


@dataclass(frozen=True)
class TrainProgress:
    """What a progress bar or a Prefect progress artifact shows."""

    step: int
    max_steps: int
    epoch: float
    loss: float  # mean training NLL since the last report, nats per token
    lr: float
    tokens_per_s: float
    elapsed_s: float
    valid_ppl: float | None  # latest validation perplexity
    best_valid_ppl: float | None
    start_step: int = 0  # where this process started (a resumed run: its checkpoint's step)

    @property
    def ppl(self) -> float:
        return math.exp(min(self.loss, 700.0))

    @property
    def eta_s(self) -> float:
        """At the rate of the steps done since this process started, not since step 0."""
        return eta_seconds(self.step, self.max_steps, self.start_step, self.elapsed_s)


@dataclass
class TrainResult:
    steps: int
    converged: bool  # stopped by early stopping (validation stopped improving)
    stop_reason: str
    valid_ppl: float | None  # of the parameters the run ends with
    best_valid_ppl: float | None
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per evaluation
    tokens_per_s: float = 0.0
    seconds: float = 0.0
    train_loss: float | None = None  # mean training NLL of the last reported steps

    @property
    def train_ppl(self) -> float:
        return math.exp(min(self.train_loss, 700.0)) if self.train_loss is not None else math.nan


@dataclass
class TrainState:
    """Where a run stands: every field changes as it trains and is saved in its checkpoints."""

    step: int = 0
    epoch: int = 0
    window: int = 0  # next window of the current epoch
    hidden: list[torch.Tensor] | None = None  # carried LSTM (h, c), truncated BPTT
    best_ppl: float = math.inf
    best_model: dict[str, torch.Tensor] | None = None  # with restore_best: the best parameters
    bad_evals: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    valid_ppl: float | None = None
    last_loss: float | None = None  # mean training NLL of the last progress report
    done: bool = False
    stop_reason: str = ""
    rollbacks: int = 0  # divergences recovered from (on_diverge="rollback")
    rollback_log: list[dict[str, float]] = field(default_factory=list)  # at_step, to_step, lr

    def start_at(self, position: tuple[int, int]) -> None:
        """Read on from (epoch, window), before the first step: a bootstrap round that trains
        for less than an epoch would otherwise read only the stream's start, every round the
        same part (a window past the end starts the next epoch)."""
        if self.step:
            raise TrainingError("start_at is for a trainer that has not stepped yet")
        self.epoch, self.window = (int(x) for x in position)


def state_is_finite(state: dict[str, Any]) -> bool:
    """True when every floating tensor of a `state_dict()` (model, optimizer...) is finite."""
    return all(torch.isfinite(t).all() for t in tensors_in(state) if torch.is_floating_point(t))


def cpu_copy(obj: Any) -> Any:
    """A deep copy with every tensor detached and on the CPU (so checkpoints load anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: cpu_copy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


def tensors_in(obj: Any) -> list[torch.Tensor]:
    if isinstance(obj, torch.Tensor):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in tensors_in(v)]
    if isinstance(obj, list | tuple):
        return [t for v in obj for t in tensors_in(v)]
    return []


def own_part(state: dict[str, Any], rank: int, size: int) -> dict[str, Any] | None:
    """This process's part of a checkpoint (LSTM state and RNG of its rows), or None when the
    checkpoint was written by another number of processes."""
    parts = state["ranks"]
    if state["local"]:
        return parts[0]
    return parts[rank] if len(parts) == size else None


def rescaled_window(state: dict[str, Any], windows_now: int) -> int:
    """The checkpoint's data position as the same share of an epoch cut into `windows_now`."""
    old = state["windows_per_epoch"]
    return min(round(state["progress"]["window"] * windows_now / old), windows_now)
