"""accumulate-costs and reallocate: the bootstrap's step from table(k) to table(k+1)."""

from __future__ import annotations

from prefect import get_run_logger

from lightrnn.allocate import AllocateConfig, reallocate
from lightrnn.corpus import open_split
from lightrnn.costs import CostConfig, Costs, accumulate_costs
from tasks import names
from tasks.artifacts import corpus_dir, get_model, get_table, put_table
from tasks.curves import record_moved
from tasks.faults import reach
from tasks.files import COSTS
from tasks.refs import CorpusInfo, Reallocation, Ref
from tasks.store_task import Output, store_task, the_ref
from tasks.terminal import terminal_progress


@store_task("accumulate-costs", output=lambda p: names.costs(p["model_ref"]), found=the_ref)
def accumulate_costs_task(
    out: Output, store_url: str, model_ref: Ref, corpus: CorpusInfo, config: CostConfig
) -> Ref:
    """l_r and l_c of the fixed model over the training split, stored by the model version."""
    model = get_model(out.store, model_ref).model
    train = open_split(str(corpus_dir(out.store, corpus)), "train")
    with terminal_progress("accumulating costs", "tokens") as progress:

        def counted(done: int, total: int) -> None:
            reach("costs")
            progress(done, total)

        costs = accumulate_costs(model, train, config, counted)
    get_run_logger().info("costs over %d tokens in %.1f s", costs.tokens, costs.seconds)
    meta = {"tokens": costs.tokens, "seconds": costs.seconds, "dtype": str(costs.rows.dtype)}
    return out.put_bytes(COSTS, costs.to_bytes(), "costs", meta, [model_ref, corpus.ref])


def _reallocation(store, ref: Ref) -> Reallocation:
    version = store.resolve(ref.name, ref.version)
    return Reallocation(ref, Ref(**version.meta["costs"]), dict(version.meta["report"]))


@store_task("reallocate", output=lambda p: names.next_table(p["model_ref"]), found=_reallocation)
def reallocate_task(
    out: Output,
    store_url: str,
    model_ref: Ref,
    costs_ref: Ref,
    table_ref: Ref,
    config: AllocateConfig,
) -> Reallocation:
    """Minimise the summed costs over one-to-one word -> cell maps, never worse (lapx)."""
    costs = Costs.from_bytes(out.store.read_bytes(costs_ref.name, costs_ref.version, COSTS))
    new_table, report = reallocate(
        costs.rows, costs.cols, get_table(out.store, table_ref), config=config
    )
    info = report.to_dict()
    reach("reallocate")
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
        "costs": {"name": costs_ref.name, "version": costs_ref.version, "uri": costs_ref.uri},
        "n_rows": new_table.n_rows,
        "n_cols": new_table.n_cols,
        "table_digest": new_table.digest(),
    }
    ref = put_table(out.store, out.name, new_table, meta, [str(costs_ref), str(table_ref)])
    record_moved(out.store, model_ref, info, ref)  # the round's curves: words moved after it
    return Reallocation(ref, costs_ref, info)
