"""evaluate: perplexity of a stored model on a split of the prepared corpus."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

from lightrnn.corpus import open_split
from lightrnn.evaluate import evaluate
from tasks import names
from tasks.artifacts import corpus_dir, get_model, to_json
from tasks.files import METRICS
from tasks.refs import CorpusInfo, Ref
from tasks.store_task import Output, store_task
from tasks.terminal import terminal_progress


@store_task(
    "evaluate",
    output=lambda p: names.evaluation(p["model_ref"], p["split"]),
    found=lambda store, ref: dict(store.resolve(ref.name, ref.version).meta),
    task_run_name="evaluate-{split}",
)
def evaluate_task(
    out: Output, store_url: str, model_ref: Ref, corpus: CorpusInfo, split: str, bptt: int = 35
) -> dict[str, Any]:
    """{"split", "ppl", "nll", "tokens", "seconds"} over a whole split, stored by the model."""
    model = get_model(out.store, model_ref).model
    stream = open_split(str(corpus_dir(out.store, corpus)), split)
    with terminal_progress(f"evaluating {split}", "tokens") as progress:
        result = evaluate(model, stream, bptt=bptt, progress=progress)
    metrics = {
        "split": split,
        "ppl": result.ppl,
        "nll": result.nll,
        "tokens": result.tokens,
        "seconds": result.seconds,
    }
    out.put_bytes(METRICS, to_json(metrics), "metrics", metrics, [model_ref, corpus.ref])
    get_run_logger().info(
        "%s %s perplexity %.2f over %d tokens", model_ref, split, result.ppl, result.tokens
    )
    return metrics
