"""Training checkpoints in the store: commit only finite states, resume from the newest valid one.

Each checkpoint records the digests of the table and the corpus it was trained on. A re-run
takes the newest version that is not retracted, reads back intact (sha256), holds only finite
numbers and matches the round's table and corpus; every version it skips is logged with the
reason. With none left, the round starts from its beginning.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import storage
from lightrnn.checkpoint import TRAINER_STATE, load_tensors, tensors_to_bytes
from lightrnn.distributed import World
from lightrnn.errors import CheckpointError
from lightrnn.train import Trainer, state_is_finite
from storage.errors import StoreError
from tasks.faults import reach
from tasks.refs import Ref
from tasks.runlog import tell


@dataclass(frozen=True)
class CheckpointTarget:
    """Where a round's checkpoints go and what they must match to be resumed."""

    store: storage.Store
    name: str
    table_digest: str
    corpus_digest: str
    parents: tuple[str, ...]

    def save(self, trainer: Trainer) -> Ref | None:
        """The Trainer's checkpoint callback (a state it hands over is finite)."""
        if trainer.done:
            return None  # the round's model is committed next
        reach("checkpoint")
        version = self.store.put_bytes(
            self.name,
            TRAINER_STATE,
            tensors_to_bytes(trainer.state_dict()),
            kind="checkpoint",
            meta={
                "step": trainer.step,
                "epoch": trainer.epoch_float,
                "table_digest": self.table_digest,
                "corpus_digest": self.corpus_digest,
            },
            parents=list(self.parents),
        )
        return Ref.of(version)

    def resume(
        self,
        trainer: Trainer,
        log: logging.Logger | logging.LoggerAdapter,
        world: World | None = None,
    ) -> Ref | None:
        """Load the newest valid checkpoint into `trainer`; its ref, or None to start afresh.
        In a world, rank 0 chooses and every process loads that same version."""
        chosen = None
        if world is None or world.is_main:
            chosen = self._choose(trainer, log)
        if world is None:
            return chosen
        chosen = world.from_main(chosen)
        if chosen is not None and not world.is_main:
            data = self.store.read_bytes(chosen.name, chosen.version, TRAINER_STATE)
            trainer.load_state_dict(load_tensors(data))
        return chosen

    def _choose(self, trainer: Trainer, log: logging.Logger | logging.LoggerAdapter) -> Ref | None:
        if not self.store.exists(self.name):
            return None
        for version in reversed(self.store.versions(self.name)):
            problem = self._problem(version, trainer)
            if problem is None:
                return Ref.of(version)
            tell(log, "skipping checkpoint %s: %s", version.ref, problem, level=logging.WARNING)
        tell(
            log,
            "no valid checkpoint of %s: the round starts from its beginning",
            self.name,
            level=logging.WARNING,
        )
        return None

    def _problem(self, version: storage.Version, trainer: Trainer) -> str | None:
        """Why `version` cannot be resumed, or None after loading it into `trainer`."""
        if version.retracted and version.retraction is not None:
            return f"retracted ({version.retraction.reason})"
        meta: dict[str, Any] = dict(version.meta)
        for key, want in (
            ("table_digest", self.table_digest),
            ("corpus_digest", self.corpus_digest),
        ):
            if meta.get(key) != want:
                return f"{key} {meta.get(key)!r} does not match this round's {want!r}"
        try:
            state = load_tensors(self.store.read_bytes(version.name, version.number, TRAINER_STATE))
        except (StoreError, CheckpointError) as exc:
            return f"unreadable ({exc})"
        if not state_is_finite(state):
            return "it holds non-finite numbers (the run had diverged)"
        try:
            trainer.load_state_dict(state)
        except (CheckpointError, KeyError, RuntimeError, ValueError) as exc:
            return f"it does not fit this model or version ({exc})"
        return None
