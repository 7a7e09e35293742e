"""The run's numbers as data: a row per bootstrap round, and the run's summary.

Plain functions the flows call to assemble what the report, the UI and the CLI show.
"""

from __future__ import annotations

from typing import Any

from lightrnn.checkpoint import count_parameters, full_softmax_spec
from lightrnn.train import resolve_device
from tasks.refs import CorpusInfo, ModelInfo, Reallocation, Ref
from tasks.settings import RunSettings


def round_row(
    round_index: int,
    model: ModelInfo,
    valid: dict[str, Any],
    table: Ref,
    moved: Reallocation | None,
    seconds: float,
) -> dict[str, Any]:
    """One row of the round table, with the refs of what the round made."""
    report = moved.report if moved is not None else {}
    fraction = report.get("moved_fraction")
    before, after = report.get("objective_before"), report.get("objective_after")
    gain = None if before is None else (before - after) / max(abs(before), 1e-300)
    return {
        "round": round_index,
        "steps": model.steps,
        "train_ppl": model.train_ppl,
        "valid_ppl": valid["ppl"],
        "words_moved": report.get("words_moved"),
        "moved_pct": None if fraction is None else 100.0 * fraction,
        "moved_fraction": fraction,
        "objective_before": before,
        "objective_after": after,
        "objective_gain": gain,
        "seconds": seconds,
        "model": model.ref,
        "table": table,
        "next_table": moved.table if moved is not None else None,
        "costs": moved.costs if moved is not None else None,
        "tokens_per_s": model.tokens_per_s,
        "parameters": model.parameters,
        "train_stop": model.stop_reason,
    }


def run_summary(
    run_key: str,
    settings: RunSettings,
    corpus: CorpusInfo,
    rows: list[dict[str, Any]],
    decision: dict[str, Any],
    test: dict[str, Any],
    store_url: str,
    seconds: float,
) -> dict[str, Any]:
    """Everything the report and `lightrnn run` print (JSON-able but for the refs in rows)."""
    best = rows[decision["best_round"] - 1]
    config = settings.model.for_vocab(corpus.vocab_size)
    return {
        "run": run_key,
        "profile": settings.profile,
        "corpus": str(corpus.ref),
        "vocab_size": corpus.vocab_size,
        "n_rows": config.n_rows,
        "n_cols": config.n_cols,
        "train_tokens": corpus.tokens["train"],
        "stop_reason": decision["reason"],
        "converged": decision["reason"] in CONVERGED,
        "best_round": decision["best_round"],
        "best_model": best["model"],
        "valid_ppl": best["valid_ppl"],
        "test_ppl": test["ppl"],
        "parameters": best["parameters"],
        "full_softmax_parameters": count_parameters(full_softmax_spec(config)),
        "tokens_per_s": sum(r["tokens_per_s"] for r in rows) / len(rows),
        "device": str(resolve_device(settings.train.device)),
        "seconds": seconds,
        "store": store_url,
        "artifacts": _artifacts(corpus, rows),
        "rounds": [{k: v for k, v in r.items() if not isinstance(v, Ref)} for r in rows],
    }


# Stop reasons of a bootstrap that has converged: more rounds would not help.
CONVERGED = ("stable", "no_improvement")


def _artifacts(corpus: CorpusInfo, rows: list[dict[str, Any]]) -> dict[str, str]:
    out = {"corpus": corpus.ref.uri or str(corpus.ref)}
    for r in rows:
        for what in ("table", "model", "costs", "next_table"):
            ref = r.get(what)
            if ref is not None:
                out[f"round {r['round']} {what.replace('_', ' ')}"] = ref.uri or str(ref)
    return out
