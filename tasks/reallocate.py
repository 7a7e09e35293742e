"""accumulate-costs and reallocate: the bootstrap's step from table(k) to table(k+1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import get_run_logger, task

from lightrnn.allocate import AllocateConfig, reallocate
from lightrnn.corpus import open_split
from lightrnn.costs import CostConfig, Costs, accumulate_costs
from tasks.artifacts import get_model, get_table, put_table
from tasks.common import IO_RETRIES, Ref, cached, find, open_store
from tasks.corpus import CorpusInfo


def costs_name(model_ref: Ref) -> str:
    return f"{model_ref.name}-costs"


@task(name="accumulate-costs", **IO_RETRIES, **cached(lambda p: costs_name(p["model_ref"])))
def accumulate_costs_task(
    store_url: str, model_ref: Ref, corpus: CorpusInfo, cost_settings: dict[str, Any]
) -> Ref:
    """l_r and l_c of the fixed model over the training split, stored beside the model."""
    store = open_store(store_url)
    name = costs_name(model_ref)
    existing = find(store, name)
    if existing is not None:
        return existing
    model, _, _ = get_model(store, model_ref)
    corpus_dir = store.get(corpus.ref.name, corpus.ref.version)
    costs = accumulate_costs(
        model, open_split(str(corpus_dir), "train"), CostConfig(**cost_settings)
    )
    get_run_logger().info("costs over %d tokens in %.1f s", costs.tokens, costs.seconds)
    meta = {"tokens": costs.tokens, "seconds": costs.seconds, "dtype": str(costs.rows.dtype)}
    return Ref.of(
        store.put_bytes(
            name,
            "costs.npz",
            costs.to_bytes(),
            meta=meta,
            kind="costs",
            parents=[str(model_ref), str(corpus.ref)],
        )
    )


@dataclass(frozen=True)
class Reallocation:
    table: Ref  # table(k+1)
    report: dict[str, Any]  # objective before/after, words moved, method, seconds


@task(name="reallocate", **IO_RETRIES, **cached(lambda p: p["name"]))
def reallocate_task(
    store_url: str, costs_ref: Ref, table_ref: Ref, name: str, allocate_settings: dict[str, Any]
) -> Reallocation:
    """Minimise the summed costs over one-to-one word -> cell maps (lapx), never worse."""
    store = open_store(store_url)
    existing = find(store, name)
    if existing is not None:
        report = store.resolve(existing.name, existing.version).meta["report"]
        return Reallocation(existing, dict(report))
    costs = Costs.from_bytes(store.read_bytes(costs_ref.name, costs_ref.version, "costs.npz"))
    current = get_table(store, table_ref)
    new_table, report = reallocate(
        costs.rows, costs.cols, current, config=AllocateConfig(**allocate_settings)
    )
    info = report.to_dict()
    get_run_logger().info(
        "reallocation (%s): objective %.6g -> %.6g, %d words moved (%.1f%%) in %.1f s",
        info["method"],
        info["objective_before"],
        info["objective_after"],
        info["words_moved"],
        100 * info["moved_fraction"],
        info["seconds"],
    )
    meta = {
        "report": info,
        "n_rows": new_table.n_rows,
        "n_cols": new_table.n_cols,
        "table_digest": new_table.digest(),
    }
    ref = put_table(store, name, new_table, meta, parents=[str(costs_ref), str(table_ref)])
    return Reallocation(ref, info)
