"""The run's numbers as data: a result per bootstrap round, and the run's summary.

`RoundResult` is what a round hands the pipeline: a frozen dataclass of plain numbers and
`Ref`s, so Prefect can persist it as JSON like the refs themselves. The summary is the JSON the
report, the UI and the CLI show.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from lightrnn.bootstrap import Decision, RoundStats
from lightrnn.checkpoint import count_parameters, full_softmax_spec
from lightrnn.train import resolve_device
from tasks.refs import CorpusInfo, ModelInfo, Reallocation, Ref
from tasks.settings import RunSettings


@dataclass(frozen=True)
class RoundResult:
    """One bootstrap round: how training and reallocation went, and the refs of what it made."""

    round: int  # 1-based
    steps: int
    train_ppl: float
    valid_ppl: float
    words_moved: int | None  # None when no reallocation followed the round
    moved_pct: float | None
    moved_fraction: float | None
    objective_before: float | None
    objective_after: float | None
    objective_gain: float | None  # (before - after) / |before|
    seconds: float
    model: Ref
    table: Ref  # the table the round trained on
    next_table: Ref | None  # table(k+1), unless the round was the last
    costs: Ref | None
    tokens_per_s: float
    parameters: int
    train_stop: str

    def stats(self) -> RoundStats:
        """What the convergence rules read."""
        return RoundStats(self.round, self.valid_ppl, self.moved_fraction, self.objective_gain)

    def refs(self) -> dict[str, Ref]:
        """The artifacts the round made or used, by role ("model", "table", ...)."""
        refs = {name: getattr(self, name) for name in REF_FIELDS}
        return {name: ref for name, ref in refs.items() if ref is not None}

    def row(self) -> dict[str, Any]:
        """The round's numbers as a JSON row: one line of the round table (no refs)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in REF_FIELDS}

    def display(self) -> dict[str, Any]:
        """The row with its refs: what the UI's status note lists."""
        return {**self.row(), **{name: getattr(self, name) for name in REF_FIELDS}}


REF_FIELDS = ("table", "model", "costs", "next_table")  # in the order the report lists them


def round_result(
    round_index: int,
    model: ModelInfo,
    valid: dict[str, Any],
    table: Ref,
    moved: Reallocation | None,
    seconds: float,
) -> RoundResult:
    """A round's result from its trained model, validation score and reallocation."""
    report = moved.report if moved is not None else {}
    fraction = report.get("moved_fraction")
    before, after = report.get("objective_before"), report.get("objective_after")
    gain = None if before is None else (before - after) / max(abs(before), 1e-300)
    return RoundResult(
        round=round_index,
        steps=model.steps,
        train_ppl=model.train_ppl,
        valid_ppl=valid["ppl"],
        words_moved=report.get("words_moved"),
        moved_pct=None if fraction is None else 100.0 * fraction,
        moved_fraction=fraction,
        objective_before=before,
        objective_after=after,
        objective_gain=gain,
        seconds=seconds,
        model=model.ref,
        table=table,
        next_table=moved.table if moved is not None else None,
        costs=moved.costs if moved is not None else None,
        tokens_per_s=model.tokens_per_s,
        parameters=model.parameters,
        train_stop=model.stop_reason,
    )


def best_result(rounds: list[RoundResult], decision: Decision) -> RoundResult:
    """The round the decision picked as the run's final model."""
    (best,) = [r for r in rounds if r.round == decision.best_round]
    return best


def run_summary(
    run_key: str,
    settings: RunSettings,
    corpus: CorpusInfo,
    rounds: list[RoundResult],
    decision: Decision,
    test: dict[str, Any],
    store_url: str,
    seconds: float,
) -> dict[str, Any]:
    """Everything the report and `lightrnn run` print (JSON-able but for "best_model", a Ref)."""
    best = best_result(rounds, decision)
    config = settings.model.for_vocab(corpus.vocab_size)
    return {
        "run": run_key,
        "profile": settings.profile,
        "corpus": str(corpus.ref),
        "vocab_size": corpus.vocab_size,
        "n_rows": config.n_rows,
        "n_cols": config.n_cols,
        "train_tokens": corpus.tokens["train"],
        "stop_reason": decision.reason,
        "converged": decision.reason in CONVERGED,
        "best_round": decision.best_round,
        "best_model": best.model,
        "valid_ppl": best.valid_ppl,
        "test_ppl": test["ppl"],
        "parameters": best.parameters,
        "full_softmax_parameters": count_parameters(full_softmax_spec(config)),
        "tokens_per_s": sum(r.tokens_per_s for r in rounds) / len(rounds),
        "device": str(resolve_device(settings.train.device)),
        "seconds": seconds,
        "store": store_url,
        "artifacts": _artifacts(corpus, rounds),
        "rounds": [r.row() for r in rounds],
    }


# Stop reasons of a bootstrap that has converged: more rounds would not help.
CONVERGED = ("stable", "no_improvement", "small_gain")


def _artifacts(corpus: CorpusInfo, rounds: list[RoundResult]) -> dict[str, str]:
    out = {"corpus": corpus.ref.uri or str(corpus.ref)}
    for r in rounds:
        for what, ref in r.refs().items():
            out[f"round {r.round} {what.replace('_', ' ')}"] = ref.uri or str(ref)
    return out
