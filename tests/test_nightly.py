"""The nightly path: a stable table published by a converged run, a changed corpus warm-started
from it by the `nightly-retrain` deployment's parameters, and smoke runs that leave it alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from pipeline_helpers import REPO, wikitext_slice
from store_backends import new_store

import storage
from flows.pipeline import lightrnn_pipeline
from lightrnn.table import Table
from lightrnn.vocab import Vocab

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
QUICK = {
    "train.max_steps": 20,
    "train.eval_every": 10,
    "costs.max_tokens": 5_000,
    "pipeline.checkpoint_steps": 0,
}
CONVERGES = {**QUICK, "pipeline.moved_threshold": 1.0}  # "stable" after the first round


def nightly_parameters() -> dict:
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    (nightly,) = [d for d in spec["deployments"] if d["name"] == "nightly-retrain"]
    return dict(nightly["parameters"])


def changed(corpus: Path, out: Path) -> Path:
    """The corpus a day later: some training lines gone (and words with them), new lines with
    new words: three more words than were lost, so the table keeps its shape."""
    out.mkdir()
    lines = (corpus / "train.txt").read_text().splitlines(keepends=True)
    kept = lines[8:]
    lost = {w for ln in lines for w in ln.split()} - {w for ln in kept for w in ln.split()}
    new = [f" zorblat{i} the of and\n" for i in range(len(lost) + 3)]
    (out / "train.txt").write_text("".join(kept + new))
    for split in ("valid", "test"):
        (out / f"{split}.txt").write_bytes((corpus / f"{split}.txt").read_bytes())
    return out


def stable(store: storage.Store, name: str, ref: int | str = "latest") -> tuple[Table, Vocab]:
    root = store.get(name, ref)
    return Table.load(root / "table.npz"), Vocab.load(str(root / "vocab.arrow"))


def test_the_nightly_retrain_warm_starts_from_its_own_stable_table(prefect_api, tmp_path):
    url = new_store(f"file://{tmp_path}/store")
    store = storage.open_store(url)
    params = nightly_parameters()
    assert params["warm_start"] == params["stable_name"] == "stable/nightly"
    day1 = wikitext_slice(tmp_path / "day1", 300, 40)

    # The first night: nothing to warm-start from yet; the run converges and publishes.
    first = lightrnn_pipeline(
        corpus=str(day1), store=url, profile="tiny", overrides=CONVERGES, **_nightly(params)
    )
    assert first["stop_reason"] == "stable" and first["converged"]
    assert len(store.versions("stable/nightly")) == 1
    old_table, old_vocab = stable(store, "stable/nightly")

    # The corpus changes; the next night's run carries every surviving word's cell over.
    day2 = changed(day1, tmp_path / "day2")
    second = lightrnn_pipeline(
        corpus=str(day2), store=url, profile="tiny", overrides=CONVERGES, **_nightly(params)
    )
    assert second["run"] != first["run"]
    initial = store.resolve(_initial(store, second))
    assert initial.meta["source"] == "warm_start" and initial.meta["from"].startswith("stable/")
    start = Table.from_bytes(store.read_bytes(initial.name, initial.number, "table.npz"))
    new_vocab = Vocab.load(str(store.get(second["corpus"].split("@")[0]) / "vocab.arrow"))
    assert start.n_rows == old_table.n_rows and start.n_cols == old_table.n_cols
    kept = [t for t in new_vocab.tokens if t in set(old_vocab.tokens)]
    added = [t for t in new_vocab.tokens if t not in set(old_vocab.tokens)]
    assert len(kept) > 1000 and any(t.startswith("zorblat") for t in added)
    for token in kept:
        old, new = old_vocab.id_of(token), new_vocab.id_of(token)
        assert (start.rows[new], start.cols[new]) == (old_table.rows[old], old_table.cols[old])
    old_cells = set(old_table.cells[[old_vocab.id_of(t) for t in kept]].tolist())
    new_cells = start.cells[[new_vocab.id_of(t) for t in added]]
    assert not old_cells & set(new_cells.tolist())  # new words fill free cells
    assert initial.meta["words_kept"] == len(kept)
    versions = store.versions("stable/nightly")
    assert len(versions) == 2 and versions[-1].parents[0].startswith(f"runs/{second['run']}/")
    published, _ = stable(store, "stable/nightly")
    assert published.vocab_size == len(new_vocab)

    # Smoke runs on another corpus leave it alone: by default nothing is published, and a run
    # that names it without converging does not publish either.
    other = wikitext_slice(tmp_path / "other", 200, 30)
    lightrnn_pipeline(corpus=str(other), store=url, profile="tiny", overrides=QUICK)
    lightrnn_pipeline(
        corpus=str(other), store=url, profile="tiny", overrides=QUICK, stable_name="stable/nightly"
    )
    assert len(store.versions("stable/nightly")) == 2
    assert np.array_equal(stable(store, "stable/nightly")[0].cells, published.cells)


def _nightly(params: dict) -> dict:
    return {k: params[k] for k in ("warm_start", "stable_name")}


def _initial(store: storage.Store, summary: dict) -> str:
    (name,) = [n for n in store.names("tables/") if _made_from(store, n, summary["corpus"])]
    return name


def _made_from(store: storage.Store, name: str, corpus_ref: str) -> bool:
    return corpus_ref in store.resolve(name).parents
