"""Training: truncated BPTT over one token stream, resumable bitwise from its checkpoints.

config.py  TrainConfig (optimizer, schedule, early stopping, divergence), resolve_device
loop.py    Trainer: the loop, evaluation, checkpoint and progress callbacks, state_dict
state.py   TrainState (what a checkpoint holds), TrainProgress, TrainResult
carry.py   handover / take_over: a bootstrap round going on from the last one's optimizer
"""

from lightrnn.train.config import OPTIMIZERS, TrainConfig, resolve_device
from lightrnn.train.loop import CheckpointFn, Trainer, TrainProgressFn
from lightrnn.train.state import TrainProgress, TrainResult, TrainState, state_is_finite
from lightrnn.train.step import train_step

__all__ = [
    "OPTIMIZERS",
    "CheckpointFn",
    "TrainConfig",
    "TrainProgress",
    "TrainProgressFn",
    "TrainResult",
    "TrainState",
    "Trainer",
    "resolve_device",
    "state_is_finite",
    "train_step",
]
