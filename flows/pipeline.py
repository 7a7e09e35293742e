"""lightrnn-pipeline: corpus -> shards -> rounds of (train, reallocate) until the table is stable.

    prepare-corpus -> initial-table -> bootstrap-round 1 -> check-convergence -> round 2 -> ...
                                                                      stop -> evaluate test
                                                                           -> write-report
                                                       (converged) -> publish-stable-table
Every output is versioned in the store under a name derived from what it was made from, so a
re-run (after a crash, or on another machine) skips what is done and resumes training from its
last valid checkpoint. One process at a time trains a given run (the run lease).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows.failures import one_line_failures
from flows.plan import DEMO_CORPUS, plan_run
from flows.round import bootstrap_round
from tasks import names
from tasks.convergence import check_convergence_task
from tasks.corpus import prepare_corpus_task
from tasks.evaluate import evaluate_task
from tasks.lease import run_lease
from tasks.refs import RoundJob
from tasks.report import publish_rounds_task, publish_stable_task, write_report_task
from tasks.rounds import RoundResult, best_result, run_summary
from tasks.store_task import code_version
from tasks.table import initial_table_task
from tasks.training.nodes import release_nodes_task


def run_name(parameters: dict[str, Any]) -> str:
    """What the UI lists the run as: profile and corpus, e.g. lightrnn-demo-wikitext-2."""
    corpus = str(parameters.get("corpus") or "").rstrip("/").rpartition("/")[2] or "corpus"
    return f"lightrnn-{parameters.get('profile', 'demo')}-{corpus}"


@flow(
    name="lightrnn-pipeline",
    flow_run_name=lambda: run_name(flow_run.parameters),
    log_prints=True,
)
@one_line_failures
def lightrnn_pipeline(
    corpus: str = DEMO_CORPUS,
    store: str | None = None,
    profile: str = "demo",
    max_rounds: int | None = None,
    overrides: dict[str, Any] | None = None,
    warm_start: str | None = None,
    stable_name: str | None = None,
    publish_unconverged: bool = False,
    splits: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train LightRNN with bootstrap reallocation on `corpus`, versioning everything in `store`.

    corpus: a directory or URL holding train/valid/test files (or pass `splits`);
    profile: tiny, demo, gpu-medium, gpu-large, gpu-billion; overrides: {"train.lr": 0.01, ...};
    warm_start: a stable-table artifact to start from (e.g. "stable/nightly");
    stable_name: where to publish the final table, if the run converged (or
    publish_unconverged), for later warm starts.
    """
    start, logger = time.perf_counter(), get_run_logger()
    plan = plan_run(corpus, store, profile, max_rounds, overrides, warm_start, splits)
    settings, url, pipeline = plan.settings, plan.store_url, plan.settings.pipeline
    if plan.warm_start_missing:
        logger.warning(
            "no stable table %r in the store yet: starting from a random table", warm_start
        )
    corpus_info = prepare_corpus_task(plan.splits, url, settings.corpus, pipeline.corpus_roots)
    table = initial_table_task(
        url, corpus_info, pipeline.seed, plan.warm_start, settings.model.shortlist, pipeline.start
    )
    run_key = names.run_key(corpus_info.digest, settings.results(), table, code_version())
    logger.info("run %s: profile %s, store %s", run_key, profile, url)
    with run_lease(url, run_key, pipeline.lease_seconds, pipeline.wait_minutes):
        rounds: list[RoundResult] = []
        init_model = None
        for k in range(1, pipeline.max_rounds + 1):
            job = RoundJob(url, run_key, k, corpus_info, table, init_model, settings)
            result = bootstrap_round(job, reallocate=k < pipeline.max_rounds)
            rounds.append(result)
            publish_rounds_task(run_key, [r.display() for r in rounds], pipeline.max_rounds)
            decision = check_convergence_task(rounds, pipeline)
            if decision.stop or result.next_table is None:
                break
            table, init_model = result.next_table, result.model
        best = best_result(rounds, decision).model
        test = evaluate_task(url, best, corpus_info, "test", settings.train.bptt)
        summary = run_summary(
            run_key, settings, corpus_info, rounds, decision, test, url, time.perf_counter() - start
        )
        if stable_name and (summary["converged"] or publish_unconverged):
            meta = {"run": run_key, "round": decision.best_round, "stop": decision.reason}
            stable = publish_stable_task(url, stable_name, best, meta)
            summary["artifacts"]["stable table"] = stable.uri or str(stable)
        elif stable_name:
            logger.info(
                "%s not published: the run stopped (%s) before converging",
                stable_name,
                decision.reason,
            )
        summary = write_report_task(url, summary, best)
        if settings.launch.nnodes > 1:
            release_nodes_task(url, settings.launch.rdzv_endpoint, run_key)
    return summary
