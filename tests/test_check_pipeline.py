"""The one pipeline run of `make check`: the tiny profile, one round, on a small slice of a real
corpus, through a real Prefect server: every layer once (flows, tasks, lightrnn, storage)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_helpers import wikitext_slice

import storage
from flows.pipeline import lightrnn_pipeline

pytestmark = [pytest.mark.prefect, pytest.mark.smoke]


def test_a_tiny_run_trains_one_round_and_versions_its_model_and_report(
    prefect_api: object, tmp_path: Path
) -> None:
    corpus = wikitext_slice(tmp_path / "corpus", train_lines=400, eval_lines=60)
    url = (tmp_path / "store").as_uri()
    storage.init_store(url)

    summary = lightrnn_pipeline(corpus=str(corpus), store=url, profile="tiny", max_rounds=1)

    run = summary["run"]
    assert [row["round"] for row in summary["rounds"]] == [1]
    names = set(storage.open_store(url).names())
    assert {f"runs/{run}/round-1/model", f"runs/{run}/final", f"runs/{run}/report"} <= names
