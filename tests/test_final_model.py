"""One format for a trained model: a run's final model is an export; a final model stored the
old way (the checkpoint layout) still loads, and scores exactly as the model it was written
from."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from legacy_model import OLD_FINAL_FILES, write_old_final

import lightrnn
import storage
from flows.models import export_model
from lightrnn.errors import CheckpointError
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.table import Table
from lightrnn.vocab import Vocab
from tasks.final_model import put_final
from tasks.refs import Ref

V = 40
VOCAB = Vocab(("<unk>", "<eos>", *[f"w{i}" for i in range(V - 2)]), tuple(range(100, 100 - V, -1)))
TOKENIZER = {"tokenizer": "whitespace", "lowercase": True}
EXPORT_FILES = ["config.json", "model.safetensors", "table.arrow", "vocab.arrow"]
IDS = torch.randint(0, V, (3, 25), generator=torch.Generator().manual_seed(5))


@pytest.fixture
def trained() -> LightRNN:
    model = LightRNN.seeded(LightRNNConfig(V, 8, 16, 1), Table.random(V, seed=1), seed=0)
    with torch.no_grad():  # weights no fresh model has: a load must read them, not rebuild them
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval()


@pytest.fixture
def store(tmp_path) -> storage.Store:
    return storage.open_store(f"file://{tmp_path}/store", create=True)


def old_final(store: storage.Store, model: LightRNN, tmp_path) -> Ref:
    written = write_old_final(model, VOCAB, TOKENIZER, tmp_path / "old")
    return Ref.of(store.put("runs/old/final", written, kind="model"))


def test_an_old_format_final_model_loads_and_scores_identically(trained, store, tmp_path):
    ref = old_final(store, trained, tmp_path)
    assert sorted(p.name for p in store.get(ref.name).iterdir()) == OLD_FINAL_FILES
    for loaded in (
        lightrnn.load("runs/old/final", store=store.url),
        lightrnn.load(tmp_path / "old"),
    ):
        assert torch.equal(loaded.model.log_prob(IDS), trained.log_prob(IDS))
        assert loaded.table == trained.table and loaded.vocab == VOCAB
        assert loaded.tokenizer == TOKENIZER


def test_the_final_model_is_stored_as_an_export_that_scores_as_the_round_model(
    trained, store, tmp_path
):
    best = old_final(store, trained, tmp_path)  # a round's model: the same checkpoint layout
    meta = {"best_round": 1}
    final = put_final(store, "runs/r/final", best, meta)
    root = store.get(final.name, final.version)
    assert sorted(p.name for p in root.iterdir()) == EXPORT_FILES
    config = json.loads((root / "config.json").read_text())
    assert config["format"] == "lightrnn-export/1" and config["tokenizer"] == TOKENIZER
    assert config["files"] == {
        name: hashlib.sha256((root / name).read_bytes()).hexdigest()
        for name in EXPORT_FILES
        if name != "config.json"
    }
    assert store.resolve("runs/r/final").parents == (str(best),)
    loaded = lightrnn.load("runs/r/final", store=store.url)
    assert torch.equal(loaded.model.log_prob(IDS), trained.log_prob(IDS))
    assert loaded.table == trained.table and loaded.vocab == VOCAB
    # the same model again (a re-run): the same bytes, so no new version
    assert put_final(store, "runs/r/final", best, meta) == final
    assert len(store.versions("runs/r/final")) == 1


def test_export_writes_out_a_final_model_and_converts_an_old_one(trained, store, tmp_path):
    best = old_final(store, trained, tmp_path)
    final = put_final(store, "runs/r/final", best, {})
    stored = store.get(final.name, final.version)
    new = export_model("runs/r/final", tmp_path / "new", store.url)
    old = export_model("runs/old/final", tmp_path / "old-export", store.url)
    for out in (new, old):
        assert sorted(p.name for p in out.iterdir()) == EXPORT_FILES
        assert {p.name: p.read_bytes() for p in out.iterdir()} == {
            p.name: p.read_bytes() for p in stored.iterdir()
        }


def test_a_directory_that_holds_no_model_is_refused_with_the_fix(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CheckpointError, match=r"is not a model \(no config\.json\): pass"):
        lightrnn.load(tmp_path)
