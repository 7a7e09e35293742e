"""`pipeline.start=cooc`: the pipeline's first table from co-occurrence statistics, named apart
from the random start (whose names stay what they were), and a bad value refused up front."""

from __future__ import annotations

import numpy as np
import pytest
from pipeline_helpers import wikitext_slice
from store_backends import new_store

import storage
from flows.pipeline import lightrnn_pipeline
from lightrnn.checkpoint import OPTIMIZER_STATE, load_tensors
from lightrnn.corpus import open_split
from lightrnn.errors import ConfigError
from lightrnn.table import Table
from lightrnn.table_start import cooccurrence_table
from tasks import names
from tasks.settings import PipelineConfig

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
QUICK = {"train.max_steps": 10, "train.eval_every": 10, "pipeline.checkpoint_steps": 0}


def first_table(store: storage.Store, corpus_ref: str):
    """The one table artifact made straight from the corpus (the run's starting table)."""
    (name,) = [n for n in store.names("tables/") if corpus_ref in store.resolve(n).parents]
    return store.resolve(name)


def test_a_cooc_start_is_the_cooccurrence_table_of_the_training_split(prefect_api, tmp_path):
    url = new_store(f"file://{tmp_path}/store")
    store = storage.open_store(url)
    corpus = wikitext_slice(tmp_path / "wt2", 300, 30)
    cooc = {**QUICK, "pipeline.start": "cooc"}
    run = lightrnn_pipeline(
        corpus=str(corpus), store=url, profile="tiny", max_rounds=2, overrides=cooc
    )

    made = first_table(store, run["corpus"])
    assert made.meta["source"] == "cooc"
    corpus_name, _, version = run["corpus"].partition("@")
    train = open_split(str(store.get(corpus_name, version)), "train")
    table = Table.from_bytes(store.read_bytes(made.name, made.number, "table.npz"))
    shortlist = run["vocab_size"] - table.vocab_size  # the profile's K, the table holds the rest
    expected = cooccurrence_table(train[0 : len(train)], run["vocab_size"], shortlist=shortlist)
    assert np.array_equal(table.cells, expected.cells)
    assert table.digest() != Table.random(table.vocab_size, seed=0).digest()

    # Round 2 read on where round 1 stopped in the training data (10 steps each, within an epoch)
    assert len(train) > 20 * 16 * 20 + 1  # tiny: batch 16 x bptt 20
    at = [
        tuple(
            load_tensors(store.get(names.round_model(run["run"], k)) / OPTIMIZER_STATE)[
                "position"
            ].tolist()
        )
        for k in (1, 2)
    ]
    assert at == [(0, 10), (0, 20)]

    # The random start on the same corpus: its own artifact, under the name it always had.
    random_run = lightrnn_pipeline(
        corpus=str(corpus), store=url, profile="tiny", max_rounds=1, overrides=QUICK
    )
    assert random_run["run"] != run["run"]
    digest = store.resolve(corpus_name, version).meta["digest"]
    assert names.initial_table(digest, 0, None, shortlist) != made.name
    assert names.initial_table(digest, 0, None, shortlist, "cooc") == made.name
    assert names.initial_table(digest, 7, None, shortlist, "cooc") == made.name  # seed-free
    assert names.initial_table(digest, 7, None, shortlist) != names.initial_table(
        digest, 0, None, shortlist
    )
    assert store.resolve(names.initial_table(digest, 0, None, shortlist)).meta["source"] == "random"


def test_an_unknown_start_is_refused_with_the_choices():
    with pytest.raises(ConfigError, match=r"pipeline.start='kmeans': must be one of random, cooc"):
        PipelineConfig(start="kmeans")


def test_a_round_after_a_converged_one_starts_its_learning_rate_again(prefect_api, tmp_path):
    """Round 1 converges (no evaluation improves by 90%; the plateau halves the rate once):
    round 2, on a new table, trains at the configured rate, not at the decayed one."""
    url = new_store(f"file://{tmp_path}/store")
    store = storage.open_store(url)
    corpus = wikitext_slice(tmp_path / "wt2", 300, 30)
    converging = {
        **QUICK,
        "train.max_steps": 60,
        "train.early_stop_patience": 1,
        "train.lr_patience": 0,
        "train.lr_decay": 0.5,
        "train.min_delta": 0.9,
    }
    run = lightrnn_pipeline(
        corpus=str(corpus), store=url, profile="tiny", max_rounds=2, overrides=converging
    )
    models = [store.resolve(names.round_model(run["run"], k)).meta for k in (1, 2)]
    assert models[0]["summary"]["stop_reason"] == "converged"
    assert [h["lr"] for h in models[0]["history"]] == [0.01, 0.01]  # decayed after the second
    assert models[1]["history"][0]["lr"] == 0.01
