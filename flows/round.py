"""bootstrap-round: train on table(k), evaluate, then (unless last) costs -> table(k+1)."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow

from tasks.common import Ref
from tasks.corpus import CorpusInfo
from tasks.evaluate import evaluate_task
from tasks.reallocate import accumulate_costs_task, reallocate_task
from tasks.train import round_name, train_round_task


@flow(name="bootstrap-round", flow_run_name="round-{round_index}")
def bootstrap_round(
    store_url: str,
    run_key: str,
    round_index: int,
    corpus: CorpusInfo,
    table: Ref,
    init_model: Ref | None,
    settings: dict[str, Any],
    reallocate: bool,
) -> dict[str, Any]:
    """One round of LightRNN's bootstrap; returns its row of the round table, with refs."""
    start = time.perf_counter()
    pipeline = settings["pipeline"]
    model = train_round_task(
        store_url,
        run_key,
        round_index,
        corpus,
        table,
        init_model,
        settings["model"],
        settings["train"],
        pipeline["seed"],
        pipeline["checkpoint_steps"],
        pipeline["checkpoint_minutes"],
    )
    valid = evaluate_task(store_url, model.ref, corpus, "valid", bptt=settings["train"]["bptt"])
    row: dict[str, Any] = {
        "round": round_index,
        "steps": model.steps,
        "train_ppl": model.train_ppl,
        "valid_ppl": valid["ppl"],
        "words_moved": None,
        "moved_pct": None,
        "moved_fraction": None,
        "objective_before": None,
        "objective_after": None,
        "model": model.ref,
        "table": table,
        "next_table": None,
        "costs": None,
        "tokens_per_s": model.tokens_per_s,
        "parameters": model.parameters,
        "train_stop": model.stop_reason,
    }
    if reallocate:
        costs = accumulate_costs_task(store_url, model.ref, corpus, settings["costs"])
        moved = reallocate_task(
            store_url,
            costs,
            table,
            round_name(run_key, round_index, "table-next"),
            settings["allocate"],
        )
        report = moved.report
        row.update(
            words_moved=report["words_moved"],
            moved_fraction=report["moved_fraction"],
            moved_pct=100.0 * report["moved_fraction"],
            objective_before=report["objective_before"],
            objective_after=report["objective_after"],
            next_table=moved.table,
            costs=costs,
        )
    row["seconds"] = time.perf_counter() - start
    return row
