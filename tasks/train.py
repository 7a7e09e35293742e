"""train-round: train LightRNN on one table until convergence, checkpointing to the store.

A re-run finds the round's model and returns it, or resumes from the newest valid checkpoint:
the result equals an uninterrupted run's (bitwise on the CPU).
"""

from __future__ import annotations

from prefect import get_run_logger
from prefect.runtime import task_run

from lightrnn.checkpoint import WEIGHTS, load_tensors
from lightrnn.corpus import open_split
from lightrnn.model import LightRNN
from lightrnn.train import Trainer
from tasks import names
from tasks.artifacts import corpus_dir, get_table, put_model
from tasks.checkpoints import CheckpointTarget
from tasks.monitor import TrainingMonitor
from tasks.refs import ModelInfo, Ref, RoundJob
from tasks.store_task import Output, store_task


@store_task(
    "train-round",
    output=lambda p: names.round_model(p["job"].run_key, p["job"].round_index),
    store_of=lambda p: p["job"].store_url,
    found=lambda store, ref: ModelInfo(
        ref=ref, **store.resolve(ref.name, ref.version).meta["summary"]
    ),
    task_run_name=lambda: f"train-round-{task_run.parameters['job'].round_index}",
    tags=["gpu"],
)
def train_round_task(out: Output, job: RoundJob) -> ModelInfo:
    """Train the round's model on its table, warm-starting from the previous round's."""
    run_key, round_index, corpus, table = job.run_key, job.round_index, job.corpus, job.table
    init_model, settings = job.init_model, job.settings
    logger, store, cfg = get_run_logger(), out.store, settings.train
    root = corpus_dir(store, corpus)
    allocation = get_table(store, table)
    model = LightRNN.seeded(
        settings.model.config(corpus.vocab_size), allocation, settings.pipeline.seed
    )
    if init_model is not None:
        model.load_state_dict(
            load_tensors(store.get(init_model.name, init_model.version) / WEIGHTS)
        )
    parents = [str(corpus.ref), str(table)] + ([str(init_model)] if init_model else [])
    target = CheckpointTarget(
        store,
        names.checkpoint(run_key, round_index),
        allocation.digest(),
        corpus.digest,
        tuple(parents),
    )
    title = f"round {round_index} of {settings.pipeline.max_rounds}"
    with TrainingMonitor(title, f"train-{run_key}-round-{round_index}", cfg.max_steps) as monitor:
        trainer = Trainer(
            model,
            open_split(str(root), "train"),
            open_split(str(root), "valid"),
            cfg,
            progress=monitor,
            checkpoint=lambda t: _log_checkpoint(logger, target.save(t), t.step),
            checkpoint_steps=settings.pipeline.checkpoint_steps,
            checkpoint_seconds=60.0 * settings.pipeline.checkpoint_minutes,
        )
        resumed = target.resume(trainer, logger)
        if resumed is not None:
            logger.info("resuming round %d from %s at step %d", round_index, resumed, trainer.step)
        result = trainer.run()
        monitor.finish(result)
    summary = {
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "train_ppl": result.train_ppl,
        "valid_ppl": result.valid_ppl if result.valid_ppl is not None else float("nan"),
        "tokens_per_s": result.tokens_per_s,
        "seconds": result.seconds,
        "parameters": model.num_parameters(),
    }
    meta = {"summary": summary, "round": round_index, "history": result.history}
    meta["config"] = {"model": model.spec(), "train": settings.to_dict()["train"]}
    ref = put_model(
        store, out.name, model.cpu(), root / "vocab.arrow", corpus.tokenizer, meta, parents
    )
    return ModelInfo(ref=ref, **summary)


def _log_checkpoint(logger, ref: Ref | None, step: int) -> None:
    if ref is not None:
        logger.info("checkpoint at step %d: %s", step, ref)
