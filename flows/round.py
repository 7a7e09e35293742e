"""bootstrap-round: train on table(k), evaluate, then (unless last) costs -> table(k+1)."""

from __future__ import annotations

import time

from prefect import flow
from prefect.runtime import flow_run

from tasks.evaluate import evaluate_task
from tasks.reallocate import accumulate_costs_task, reallocate_task
from tasks.refs import RoundJob
from tasks.rounds import RoundResult, round_result
from tasks.training.task import train_round_task


@flow(
    name="bootstrap-round",
    flow_run_name=lambda: f"round-{flow_run.parameters['job'].round_index}",
)
def bootstrap_round(job: RoundJob, reallocate: bool) -> RoundResult:
    """One round of LightRNN's bootstrap: its numbers and the refs of what it made."""
    start, url, settings = time.perf_counter(), job.store_url, job.settings
    model = train_round_task(job)
    valid = evaluate_task(url, model.ref, job.corpus, "valid", settings.train.bptt)
    moved = None
    if reallocate:
        costs = accumulate_costs_task(url, model.ref, job.corpus, settings.costs)
        moved = reallocate_task(url, model.ref, costs, job.table, settings.allocate)
    seconds = time.perf_counter() - start
    return round_result(job.round_index, model, valid, job.table, moved, seconds)
