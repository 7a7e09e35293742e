"""bootstrap-round: train on table(k), evaluate, then (unless last) costs -> table(k+1)."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow

from tasks.evaluate import evaluate_task
from tasks.reallocate import accumulate_costs_task, reallocate_task
from tasks.refs import CorpusInfo, Ref
from tasks.rounds import round_row
from tasks.settings import RunSettings
from tasks.train import train_round_task


@flow(name="bootstrap-round", flow_run_name="round-{round_index}")
def bootstrap_round(
    store_url: str,
    run_key: str,
    round_index: int,
    corpus: CorpusInfo,
    table: Ref,
    init_model: Ref | None,
    settings: RunSettings,
    reallocate: bool,
) -> dict[str, Any]:
    """One round of LightRNN's bootstrap; its row of the round table, with refs."""
    start = time.perf_counter()
    model = train_round_task(store_url, run_key, round_index, corpus, table, init_model, settings)
    valid = evaluate_task(store_url, model.ref, corpus, "valid", settings.train.bptt)
    moved = None
    if reallocate:
        costs = accumulate_costs_task(store_url, model.ref, corpus, settings.costs)
        moved = reallocate_task(store_url, model.ref, costs, table, settings.allocate)
    return round_row(round_index, model, valid, table, moved, time.perf_counter() - start)
