"""Learning curves while a round trains: TensorBoard event files in the run's directory.

    $LIGHTRNN_RUNS_DIR (default ~/.local/share/lightrnn-flow/runs)/<run>/round-<k>/events...
    tensorboard --logdir ~/.local/share/lightrnn-flow/runs/<run>     one run per round

Rank 0 alone writes: train loss, learning rate and tokens per second at each progress report,
validation perplexity at each evaluation, words moved after the round's reallocation. The
directory is versioned into the store as `runs/<run>/round-<k>/curves` with each checkpoint and
at the end of the round, so the curves outlive the machine; a resumed round (here or elsewhere)
continues the same files, hiding what was logged after its checkpoint (TensorBoard's
purge_step).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

from torch.utils.tensorboard import SummaryWriter

import storage
from lightrnn.train import TrainProgress
from tasks.refs import Ref

RUNS_DIR_ENV = "LIGHTRNN_RUNS_DIR"
TRAIN_LOSS = "train/loss"  # mean training NLL since the last report, nats per token
LEARNING_RATE = "train/lr"
TOKENS_PER_S = "train/tokens_per_s"
VALID_PPL = "valid/ppl"  # at each evaluation, on the evaluation's step
WORDS_MOVED = "round/words_moved"  # after the round's reallocation, at step = round index
MOVED_PCT = "round/moved_pct"
ROUND_MODEL = re.compile(r"^runs/(?P<run>[^/]+)/round-(?P<k>\d+)/model$")


def runs_dir(env: dict[str, str] | None = None) -> Path:
    """Where runs' event files go: $LIGHTRNN_RUNS_DIR, else $XDG_DATA_HOME (or
    ~/.local/share)/lightrnn-flow/runs."""
    env = dict(os.environ) if env is None else env
    if env.get(RUNS_DIR_ENV):
        return Path(env[RUNS_DIR_ENV]).expanduser().absolute()
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base, "lightrnn-flow", "runs").absolute()


def round_dir(run_key: str, round_index: int) -> Path:
    return runs_dir() / run_key / f"round-{round_index}"


def curves_name(run_key: str, round_index: int) -> str:
    return f"runs/{run_key}/round-{round_index}/curves"


def has_events(directory: Path) -> bool:
    return directory.is_dir() and any(directory.glob("events.out.tfevents.*"))


class CurveWriter:
    """One round's TensorBoard writer (rank 0): `progress` and `evaluated` are the trainer's
    callbacks; `open(step)` once the trainer has resumed, `commit` to version the files."""

    def __init__(self, store: storage.Store, run_key: str, round_index: int) -> None:
        self.store, self.run_key, self.round_index = store, run_key, round_index
        self.dir = round_dir(run_key, round_index)
        self.name = curves_name(run_key, round_index)
        self.writer: SummaryWriter | None = None

    def open(self, start_step: int | None) -> Path:
        """Start writing at `start_step` (0, or the resumed checkpoint's step; None: add to
        the curves, hiding nothing): the files of an earlier attempt continue, from the store
        when this machine has none, and what they hold after `start_step` is hidden."""
        resumed = start_step is None or start_step > 0
        if resumed and not has_events(self.dir) and self.store.exists(self.name):
            shutil.copytree(self.store.get(self.name), self.dir, dirs_exist_ok=True)
            for path in self.dir.rglob("*"):  # store copies are read-only
                path.chmod(path.stat().st_mode | 0o200)
        self.dir.mkdir(parents=True, exist_ok=True)
        # The checkpoint's own step was logged before it was committed: hide only what follows.
        purge = None if start_step is None else start_step + 1
        self.writer = SummaryWriter(str(self.dir), purge_step=purge, flush_secs=30)
        return self.dir

    def progress(self, p: TrainProgress) -> None:
        if self.writer is None:
            return
        self.writer.add_scalar(TRAIN_LOSS, p.loss, p.step)
        self.writer.add_scalar(LEARNING_RATE, p.lr, p.step)
        self.writer.add_scalar(TOKENS_PER_S, p.tokens_per_s, p.step)

    def evaluated(self, entry: dict[str, float]) -> None:
        if self.writer is None:
            return
        self.writer.add_scalar(VALID_PPL, entry["valid_ppl"], int(entry["step"]))
        self.writer.flush()  # an evaluation is rare and worth seeing at once

    def commit(self, step: int, parents: list[str]) -> Ref:
        """Version the round's event files (after flushing them) into the store."""
        if self.writer is not None:
            self.writer.flush()
        meta = {"step": step, "round": self.round_index}
        return Ref.of(self.store.put(self.name, self.dir, meta, parents, kind="curves"))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def record_moved(store: storage.Store, model: Ref, report: dict[str, Any], table: Ref) -> Ref:
    """Words moved by the reallocation after round k (k = the model's round), at step k, in
    the round's event files; the round's curves get a new version holding them."""
    match = ROUND_MODEL.match(model.name)
    if match is None:
        raise ValueError(
            f"{model.name!r} is not a round's model (runs/<run>/round-<k>/model): words moved "
            "are recorded for the bootstrap rounds only"
        )
    run_key, k = match["run"], int(match["k"])
    curves = CurveWriter(store, run_key, k)
    curves.open(None)
    assert curves.writer is not None
    curves.writer.add_scalar(WORDS_MOVED, report["words_moved"], k)
    curves.writer.add_scalar(MOVED_PCT, 100.0 * report["moved_fraction"], k)
    try:
        return curves.commit(k, [str(model), str(table)])
    finally:
        curves.close()
