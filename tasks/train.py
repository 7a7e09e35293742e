"""train-round: train LightRNN on one table until convergence, checkpointing to the store.

Names, for run R and round k:
  runs/R/round-k/checkpoint   a version every N steps or minutes (the whole Trainer state)
  runs/R/round-k/model        the round's final model (its existence means the round trained)
A re-run finds the model and returns it, or finds a checkpoint and continues from it: the
result equals an uninterrupted run's (bitwise on the CPU).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from prefect import get_run_logger, task

from lightrnn.corpus import open_split
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.train import TrainConfig, Trainer, TrainResult
from tasks.artifacts import get_table, load_tensors, put_model, tensors_to_bytes
from tasks.common import IO_RETRIES, Ref, cached, find, open_store
from tasks.corpus import CorpusInfo
from tasks.monitor import TrainingMonitor


@dataclass(frozen=True)
class ModelInfo:
    ref: Ref
    steps: int
    stop_reason: str
    train_ppl: float  # training loss of the last reported steps, as a perplexity
    valid_ppl: float  # as measured during training (possibly on a prefix of valid)
    tokens_per_s: float
    seconds: float
    parameters: int


def round_name(run_key: str, round_index: int, what: str) -> str:
    return f"runs/{run_key}/round-{round_index}/{what}"


@task(
    name="train-round",
    task_run_name="train-round-{round_index}",
    tags=["gpu"],
    **IO_RETRIES,
    **cached(lambda p: round_name(p["run_key"], p["round_index"], "model")),
)
def train_round_task(
    store_url: str,
    run_key: str,
    round_index: int,
    corpus: CorpusInfo,
    table: Ref,
    init_model: Ref | None,
    model_settings: dict[str, Any],
    train_settings: dict[str, Any],
    seed: int,
    checkpoint_steps: int,
    checkpoint_minutes: float,
) -> ModelInfo:
    """Train round `round_index` on `table`, warm-starting from `init_model` when given."""
    logger = get_run_logger()
    store = open_store(store_url)
    final_name = round_name(run_key, round_index, "model")
    done = find(store, final_name)
    if done is not None:
        logger.info("round %d already trained: %s", round_index, done)
        return ModelInfo(ref=done, **store.resolve(done.name, done.version).meta["summary"])

    corpus_dir = store.get(corpus.ref.name, corpus.ref.version)
    train, valid = open_split(str(corpus_dir), "train"), open_split(str(corpus_dir), "valid")
    config = LightRNNConfig(vocab_size=corpus.vocab_size, **model_settings)
    train_config = TrainConfig(**train_settings)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the same initial parameters on every machine
        model = LightRNN(config, get_table(store, table))
    if init_model is not None:
        weights = store.get(init_model.name, init_model.version) / "weights.pt"
        model.load_state_dict(load_tensors(weights))

    ckpt_name = round_name(run_key, round_index, "checkpoint")
    parents = [str(corpus.ref), str(table)] + ([str(init_model)] if init_model else [])

    def save_checkpoint(trainer: Trainer) -> None:
        if trainer.done:
            return  # the final model is committed below
        data = tensors_to_bytes(trainer.state_dict())
        version = store.put_bytes(
            ckpt_name,
            "trainer.pt",
            data,
            kind="checkpoint",
            meta={"step": trainer.step, "epoch": trainer.epoch_float},
            parents=parents,
        )
        logger.info("checkpoint at step %d: %s", trainer.step, Ref.of(version))

    title = f"round {round_index}"
    with TrainingMonitor(
        title, key=f"train-{run_key}-round-{round_index}", max_steps=train_config.max_steps
    ) as monitor:
        trainer = Trainer(
            model,
            train,
            valid,
            train_config,
            progress=monitor,
            checkpoint=save_checkpoint,
            checkpoint_steps=checkpoint_steps,
            checkpoint_seconds=60.0 * checkpoint_minutes,
        )
        last = find(store, ckpt_name)
        if last is not None:
            path = store.get(last.name, last.version)
            trainer.load_state_dict(load_tensors(path))
            logger.info("resuming round %d from %s at step %d", round_index, last, trainer.step)
        start = time.perf_counter()
        result = trainer.run()
        summary = _summary(result, trainer, model, time.perf_counter() - start)
        monitor.finish(
            f"{result.stop_reason} after {result.steps:,} steps, "
            f"valid ppl {summary['valid_ppl']:.2f}"
        )

    ref = put_model(
        store,
        final_name,
        model.cpu(),
        Path(corpus_dir) / "vocab.arrow",
        tokenizer=corpus.tokenizer,
        parents=parents,
        meta={
            "summary": summary,
            "round": round_index,
            "history": result.history,
            "config": {"model": model.spec(), "train": train_settings},
        },
    )
    return ModelInfo(ref=ref, **summary)


def _summary(
    result: TrainResult, trainer: Trainer, model: LightRNN, seconds: float
) -> dict[str, Any]:
    train_loss = trainer.last_loss if trainer.last_loss is not None else math.nan
    return {
        "steps": result.steps,
        "stop_reason": result.stop_reason,
        "train_ppl": math.exp(min(train_loss, 700.0)),
        "valid_ppl": result.valid_ppl if result.valid_ppl is not None else math.nan,
        "tokens_per_s": result.tokens_per_s,
        "seconds": seconds,
        "parameters": model.num_parameters(),
    }
