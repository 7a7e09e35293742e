"""Resuming a round: the newest *valid* checkpoint, every skipped one logged with its reason."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
from store_backends import new_store

import storage
from lightrnn import Table
from lightrnn.checkpoint import TRAINER_STATE, tensors_to_bytes
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.train import TrainConfig, Trainer
from tasks.training.checkpoints import CheckpointTarget

V = 30
STREAM = np.tile(np.random.default_rng(0).integers(0, V, size=7), 200).astype(np.int32)
TABLE = Table.random(V, seed=1)


def trainer() -> Trainer:
    model = LightRNN.seeded(LightRNNConfig(V, 8, 16, 1), TABLE, seed=0)
    cfg = TrainConfig(batch_size=4, bptt=9, optimizer="adam", lr=0.01, max_steps=30, eval_every=0)
    return Trainer(model, STREAM, None, cfg)


def target(url: str, cache, table_digest: str = TABLE.digest()) -> CheckpointTarget:
    store = storage.open_store(url, cache_dir=cache)
    return CheckpointTarget(store, "runs/r/round-1/checkpoint", table_digest, "corpus-1", ())


@pytest.fixture
def checkpointed(tmp_path):
    """Three checkpoints (steps 10, 20, 30) of one run in a file store; the store's URL."""
    url = new_store(f"file://{tmp_path}/store")
    t, out = trainer(), target(url, tmp_path / "cache0")
    for stop in (10, 20, 30):
        t.run(until_step=stop)
        t.state.done = False  # checkpoint the last one too (a finished round commits its model)
        out.save(t)
    return url


def resume(url, cache, caplog, **kw):
    fresh = trainer()
    with caplog.at_level(logging.WARNING):
        ref = target(url, cache, **kw).resume(fresh, logging.getLogger("test"))
    return ref, fresh


def blob_of(url: str, tmp_path, number: int):
    store = storage.open_store(url, cache_dir=tmp_path / "c-look")
    sha = store.resolve("runs/r/round-1/checkpoint", number).files[TRAINER_STATE]["sha256"]
    return tmp_path / "store" / "blobs" / "sha256" / sha[:2] / sha[2:]


def test_the_newest_checkpoint_resumes(checkpointed, tmp_path, caplog):
    ref, fresh = resume(checkpointed, tmp_path / "c1", caplog)
    assert ref.version == 3 and fresh.step == 30
    assert not caplog.records


def test_a_corrupted_newest_checkpoint_falls_back_to_the_previous_one(
    checkpointed, tmp_path, caplog
):
    blob = blob_of(checkpointed, tmp_path, 3)
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    blob.write_bytes(bytes(data))
    ref, fresh = resume(checkpointed, tmp_path / "c2", caplog)
    assert ref.version == 2 and fresh.step == 20
    assert "skipping checkpoint runs/r/round-1/checkpoint@v000003: unreadable" in caplog.text


def test_a_non_finite_or_retracted_or_foreign_checkpoint_is_skipped(checkpointed, tmp_path, caplog):
    store = storage.open_store(checkpointed, cache_dir=tmp_path / "c3")
    t = trainer()
    t.run(until_step=5)
    state = t.state_dict()
    next(iter(state["model"].values())).fill_(math.nan)  # as if saved by a diverged run
    meta = {"step": 5, "table_digest": TABLE.digest(), "corpus_digest": "corpus-1"}
    name = "runs/r/round-1/checkpoint"
    store.put_bytes(name, TRAINER_STATE, tensors_to_bytes(state), meta=meta)  # v4
    store.retract(name, 3, reason="loss spiked after step 25")
    ref, fresh = resume(checkpointed, tmp_path / "c4", caplog)
    assert ref.version == 2 and fresh.step == 20
    assert "v000004: it holds non-finite numbers" in caplog.text
    assert "v000003: retracted (loss spiked after step 25)" in caplog.text

    caplog.clear()
    ref, _ = resume(checkpointed, tmp_path / "c5", caplog, table_digest="another-table")
    assert ref is None
    assert "table_digest" in caplog.text and "starts from its beginning" in caplog.text


def test_resuming_equals_an_uninterrupted_run(checkpointed, tmp_path, caplog):
    whole = trainer()
    whole.run(until_step=30)
    _, fresh = resume(checkpointed, tmp_path / "c6", caplog)
    for a, b in zip(whole.model.parameters(), fresh.model.parameters(), strict=True):
        assert torch.equal(a, b)
