"""One run going on from another: a bootstrap round starts from the last round's optimizer.

What carries (`handover` writes it, `take_over` reads it): the optimizer's state (Adam's
moments), the learning-rate schedule, and the place in the training stream, so that short
rounds train like one run interrupted by reallocations. One exception: when the earlier run
*converged* (early stopping ended it), its schedule has cut the rate to where nothing more was
learned, and its plateau detector remembers a best perplexity measured on the old table. Carried
into a round on a new table, that rate is too small to adapt to it, and every evaluation counts
as "no better than the best", so the rate halves again at each one (measured on WikiText-2: a
round after a converged one started at a 256th of the configured rate, halved it at every
evaluation, and after 1,260 steps was still worse than the round before it). After a
converged run the next one keeps the moments and the place but starts the rate again at
`TrainConfig.lr`, with a fresh schedule: each round then trains to convergence, as the paper's
rounds do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lightrnn.train.config import load_optimizer_state
from lightrnn.train.loop import Trainer
from lightrnn.train.state import cpu_copy


def handover(trainer: Trainer) -> dict[str, Any]:
    """What the next run needs to go on from this finished one (tensors and plain values)."""
    return {
        "optimizer": cpu_copy(trainer.optimizer.state_dict()),
        "scheduler": cpu_copy(trainer.scheduler.state_dict()),
        "position": torch.tensor(trainer.position),  # where the next round reads on
    }


def take_over(trainer: Trainer, carried: Mapping[str, Any], converged: bool) -> None:
    """Start `trainer` (not yet stepped) where `carried` (from `handover`) left off;
    `converged`: whether that earlier run ended by converging (its `TrainResult.stop_reason`),
    in which case the learning rate starts again. A handover without "position" (written
    before it was kept) reads from the stream's start."""
    load_optimizer_state(trainer.optimizer, carried["optimizer"])
    if converged:
        for group in trainer.optimizer.param_groups:
            group["lr"] = trainer.config.lr
    else:
        trainer.scheduler.load_state_dict(carried["scheduler"])
    if "position" in carried:
        trainer.state.start_at(tuple(carried["position"].tolist()))
