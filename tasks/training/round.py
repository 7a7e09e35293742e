"""Training one bootstrap round from its job: in the task's own process, or as one of the
training processes torchrun starts (`tasks.training.worker`). Every process reads the corpus,
the table and the checkpoint from the store; rank 0 alone commits checkpoints and the round's model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import storage
from lightrnn.checkpoint import OPTIMIZER_STATE, WEIGHTS, load_tensors, tensors_to_bytes
from lightrnn.corpus import open_split
from lightrnn.distributed import World
from lightrnn.model import LightRNN
from lightrnn.train import Trainer, TrainProgress
from lightrnn.train.carry import handover, take_over
from tasks import names
from tasks.artifacts import corpus_dir, get_table, put_model
from tasks.curves import CurveWriter
from tasks.refs import ModelInfo, Ref, RoundJob
from tasks.runlog import tell
from tasks.training.checkpoints import CheckpointTarget

Log = logging.Logger | logging.LoggerAdapter


def train_round(
    job: RoundJob,
    store: storage.Store,
    log: Log,
    progress: Callable[[TrainProgress], None] | None = None,
    world: World | None = None,
    evaluated: Callable[[dict[str, float]], None] | None = None,
) -> ModelInfo | None:
    """Train the round's model on its table (resuming from the newest valid checkpoint) and
    commit it; its ModelInfo on rank 0, None on the other ranks. Rank 0 writes the learning
    curves (tasks/curves.py) and versions them with each checkpoint and the model."""
    settings, corpus, main = job.settings, job.corpus, world is None or world.is_main
    root = corpus_dir(store, corpus)
    allocation = get_table(store, job.table)
    config = settings.model.for_vocab(corpus.vocab_size)
    model = LightRNN.seeded(config, allocation, settings.pipeline.seed)
    carried, converged = None, False
    if job.init_model is not None:
        init = store.get(job.init_model.name, job.init_model.version)
        model.load_state_dict(load_tensors(init / WEIGHTS))
        if settings.pipeline.carry_optimizer and (init / OPTIMIZER_STATE).is_file():
            carried = load_tensors(init / OPTIMIZER_STATE)
            last = store.resolve(job.init_model.name, job.init_model.version).meta["summary"]
            converged = last["stop_reason"] == "converged"  # a round model's, as task.py reads it
    parents = [str(corpus.ref), str(job.table)] + ([str(job.init_model)] if job.init_model else [])
    name = names.checkpoint(job.run_key, job.round_index)
    target = CheckpointTarget(store, name, allocation.digest(), corpus.digest, tuple(parents))
    curves = CurveWriter(store, job.run_key, job.round_index)

    def reported(p: TrainProgress) -> None:
        curves.progress(p)
        if progress is not None:
            progress(p)

    def validated(entry: dict[str, float]) -> None:
        curves.evaluated(entry)
        if evaluated is not None:
            evaluated(entry)

    def checkpointed(t: Trainer) -> None:
        ref = target.save(t)
        if ref is not None:
            curves.commit(t.step, [str(ref)])
        _committed(log, ref, t.step)

    trainer = Trainer(
        model,
        open_split(str(root), "train"),
        open_split(str(root), "valid"),
        settings.train,
        progress=reported if main else None,
        checkpoint=checkpointed,
        checkpoint_steps=settings.pipeline.checkpoint_steps,
        checkpoint_seconds=60.0 * settings.pipeline.checkpoint_minutes,
        world=world,
        evaluated=validated if main else None,
    )
    if carried is not None:
        take_over(trainer, carried, converged)
        if converged and main:
            tell(log, "round %d: the last round converged, its rate starts again", job.round_index)
    resumed = target.resume(trainer, log, world)
    if resumed is not None and main:
        tell(log, "resuming round %d from %s at step %d", job.round_index, resumed, trainer.step)
    if main:
        where = curves.open(trainer.step)
        tell(
            log,
            "learning curves of round %d in %s: tensorboard --logdir %s",
            job.round_index,
            where,
            where.parent,
        )
    try:
        result = trainer.run()
    finally:
        curves.close()
    if not main:
        return None
    curves.commit(result.steps, parents)
    summary: dict[str, Any] = {
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "train_ppl": result.train_ppl,
        "valid_ppl": result.valid_ppl if result.valid_ppl is not None else float("nan"),
        "tokens_per_s": result.tokens_per_s,
        "seconds": result.seconds,
        "parameters": model.num_parameters(),
        "processes": world.size if world else 1,
    }
    meta = {"summary": summary, "round": job.round_index, "history": result.history}
    meta["config"] = {"model": model.spec(), "train": settings.to_dict()["train"]}
    model_name = names.round_model(job.run_key, job.round_index)
    vocab = root / "vocab.arrow"
    extra = {OPTIMIZER_STATE: tensors_to_bytes(handover(trainer))}
    ref = put_model(store, model_name, model.cpu(), vocab, corpus.tokenizer, meta, parents, extra)
    return model_info(ref, summary)


def model_info(ref: Ref, summary: dict[str, Any]) -> ModelInfo:
    """A ModelInfo from a round model's stored summary (older ones lack "processes")."""
    known = {k: v for k, v in summary.items() if k in ModelInfo.__dataclass_fields__}
    return ModelInfo(ref=ref, **known)


def _committed(log: Log, ref: Ref | None, step: int) -> None:
    if ref is not None:
        log.info("checkpoint at step %d: %s", step, ref)
