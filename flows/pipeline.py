"""lightrnn-pipeline: corpus -> shards -> rounds of (train, reallocate) until the table is stable.

    prepare-corpus -> initial-table -> bootstrap-round 1 -> check-convergence -> round 2 -> ...
                                                                       stop -> evaluate test
                                                                            -> write-report
Every output is versioned in the store under a name derived from what it was made from, so a
re-run (after a crash, or on another machine) skips what is done and resumes training from its
last checkpoint.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger

from flows.plan import DEMO_CORPUS, plan_run
from flows.round import bootstrap_round
from lightrnn.model import LightRNNConfig
from lightrnn.table import table_shape
from lightrnn.train import resolve_device
from tasks.common import digest
from tasks.convergence import check_convergence_task
from tasks.corpus import prepare_corpus_task
from tasks.evaluate import evaluate_task
from tasks.report import publish_rounds_task, write_report_task
from tasks.table import initial_table_task

RESULT_SECTIONS = ("model", "train", "costs", "allocate")  # what changes a round's outputs


@flow(name="lightrnn-pipeline", log_prints=True)
def lightrnn_pipeline(
    corpus: str = DEMO_CORPUS,
    store: str | None = None,
    profile: str = "demo",
    max_rounds: int | None = None,
    overrides: dict[str, Any] | None = None,
    warm_start: str | None = None,
    stable_name: str | None = "stable/default",
    splits: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Train LightRNN with bootstrap reallocation on `corpus`, versioning everything in `store`.

    corpus: a directory or URL holding train/valid/test files (or pass `splits`);
    profile: tiny, demo, gpu-medium, gpu-large, gpu-billion; overrides: {"train.lr": 0.01, ...};
    warm_start: name of a stable-table artifact to start from (e.g. "stable/default");
    stable_name: where to publish this run's final table for later warm starts.
    """
    start = time.perf_counter()
    logger = get_run_logger()
    plan = plan_run(corpus, store, profile, max_rounds, overrides, warm_start, splits)
    settings = plan.settings.to_dict()
    pipeline = plan.settings.pipeline
    if plan.warm_start_missing:
        logger.warning(
            "no stable table %r in the store yet: starting from a random table", warm_start
        )
    corpus_info = prepare_corpus_task(plan.splits, plan.store_url, settings["corpus"])
    table = initial_table_task(plan.store_url, corpus_info, pipeline.seed, plan.warm_start)
    run_key = digest(
        corpus_info.digest, {s: settings[s] for s in RESULT_SECTIONS}, pipeline.seed, str(table)
    )
    logger.info("run %s: profile %s, store %s", run_key, profile, plan.store_url)

    rows: list[dict[str, Any]] = []
    init_model = None
    for k in range(1, pipeline.max_rounds + 1):
        row = bootstrap_round(
            plan.store_url,
            run_key,
            k,
            corpus_info,
            table,
            init_model,
            settings,
            reallocate=k < pipeline.max_rounds,
        )
        rows.append(row)
        publish_rounds_task(run_key, rows)
        decision = check_convergence_task(
            [
                {
                    "round": r["round"],
                    "valid_ppl": r["valid_ppl"],
                    "moved_fraction": r["moved_fraction"],
                }
                for r in rows
            ],
            pipeline.max_rounds,
            pipeline.moved_threshold,
        )
        if decision["stop"]:
            break
        table, init_model = row["next_table"], row["model"]

    best = rows[decision["best_round"] - 1]
    test = evaluate_task(
        plan.store_url, best["model"], corpus_info, "test", bptt=settings["train"]["bptt"]
    )
    summary = {
        "run": run_key,
        "profile": profile,
        "corpus": str(corpus_info.ref),
        "vocab_size": corpus_info.vocab_size,
        "train_tokens": corpus_info.tokens["train"],
        "stop_reason": decision["reason"],
        "best_round": decision["best_round"],
        "valid_ppl": best["valid_ppl"],
        "test_ppl": test["ppl"],
        "parameters": best["parameters"],
        "full_softmax_parameters": _full_softmax_parameters(
            best["parameters"], corpus_info, settings["model"]
        ),
        "tokens_per_s": sum(r["tokens_per_s"] for r in rows) / len(rows),
        "device": str(resolve_device(plan.settings.train.device)),
        "seconds": time.perf_counter() - start,
        "store": plan.store_url,
        "artifacts": _artifacts(corpus_info, rows),
        "rounds": [{k: v for k, v in r.items() if not hasattr(v, "version")} for r in rows],
    }
    summary["n_rows"], summary["n_cols"] = table_shape(corpus_info.vocab_size)
    return write_report_task(
        plan.store_url, run_key, summary, summary["rounds"], best["model"], stable_name
    )


def _full_softmax_parameters(lightrnn_params: int, corpus: Any, model: dict[str, Any]) -> int:
    """Same LSTM, but a V-row input embedding and a V-way output layer instead of R + C."""
    config = LightRNNConfig(vocab_size=corpus.vocab_size, **model)
    V, R, C = config.vocab_size, config.n_rows, config.n_cols
    d, h = config.embed_dim, config.hidden_dim
    return lightrnn_params - (R + C) * (d + h + 1) + V * (d + h + 1)


def _artifacts(corpus: Any, rows: list[dict[str, Any]]) -> dict[str, str]:
    out = {"corpus": corpus.ref.uri or str(corpus.ref)}
    for r in rows:
        k = r["round"]
        for what in ("table", "model", "costs", "next_table"):
            ref = r.get(what)
            if ref is not None:
                out[f"round {k} {what.replace('_', ' ')}"] = ref.uri or str(ref)
    return out
