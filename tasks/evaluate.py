"""evaluate: perplexity of a stored model on a split of the prepared corpus."""

from __future__ import annotations

import json
from typing import Any

from prefect import get_run_logger, task

from lightrnn.corpus import open_split
from lightrnn.evaluate import evaluate
from tasks.artifacts import get_model
from tasks.common import IO_RETRIES, Ref, cached, open_store
from tasks.corpus import CorpusInfo


def eval_name(model_ref: Ref, split: str) -> str:
    return f"{model_ref.name}-eval/{split}"


@task(
    name="evaluate",
    task_run_name="evaluate-{split}",
    **IO_RETRIES,
    **cached(lambda p: eval_name(p["model_ref"], p["split"])),
)
def evaluate_task(
    store_url: str,
    model_ref: Ref,
    corpus: CorpusInfo,
    split: str,
    batch_size: int = 10,
    bptt: int = 35,
) -> dict[str, Any]:
    """{"split", "ppl", "nll", "tokens", "seconds"} over a whole split, stored by the model."""
    store = open_store(store_url)
    name = eval_name(model_ref, split)
    if store.exists(name):
        return dict(store.resolve(name, "latest").meta)
    model, _, _ = get_model(store, model_ref)
    corpus_dir = store.get(corpus.ref.name, corpus.ref.version)
    result = evaluate(model, open_split(str(corpus_dir), split), batch_size=batch_size, bptt=bptt)
    metrics = {
        "split": split,
        "ppl": result.ppl,
        "nll": result.nll,
        "tokens": result.tokens,
        "seconds": result.seconds,
    }
    store.put_bytes(
        name,
        "metrics.json",
        _json(metrics),
        meta=metrics,
        kind="metrics",
        parents=[str(model_ref), str(corpus.ref)],
    )
    get_run_logger().info(
        "%s %s perplexity %.2f over %d tokens", model_ref, split, result.ppl, result.tokens
    )
    return metrics


def _json(obj: Any) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True).encode()
