"""The run's summaries: a table artifact per round, the final model, a markdown report."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.common import IO_RETRIES, Ref, open_store

ROUND_COLUMNS = (
    "round",
    "steps",
    "train_ppl",
    "valid_ppl",
    "words_moved",
    "moved_pct",
    "objective_before",
    "objective_after",
    "seconds",
)


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rounds_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(ROUND_COLUMNS) + " |\n|" + "---:|" * len(ROUND_COLUMNS) + "\n"
    return head + "".join(
        "| " + " | ".join(_fmt(r.get(c)) for c in ROUND_COLUMNS) + " |\n" for r in rows
    )


@task(name="publish-rounds", cache_policy=NO_CACHE)
def publish_rounds_task(run_key: str, rows: list[dict[str, Any]]) -> None:
    """The per-round table in the Prefect UI (a new version of the same key after each round)."""
    create_table_artifact(
        key=f"rounds-{run_key}",
        table=[{c: r.get(c) for c in ROUND_COLUMNS} for r in rows],
        description=f"LightRNN bootstrap rounds of run {run_key}",
    )


@task(name="write-report", cache_policy=NO_CACHE, **IO_RETRIES)
def write_report_task(
    store_url: str,
    run_key: str,
    summary: dict[str, Any],
    rows: list[dict[str, Any]],
    best_model: Ref,
    stable_name: str | None,
) -> dict[str, Any]:
    """Commit the final model, the stable table and the report; show the report in the UI."""
    logger = get_run_logger()
    store = open_store(store_url)
    best_dir = store.get(best_model.name, best_model.version)
    final = Ref.of(
        store.put(
            f"runs/{run_key}/final",
            best_dir,
            kind="model",
            meta={
                "round": summary["best_round"],
                "test_ppl": summary["test_ppl"],
                "valid_ppl": summary["valid_ppl"],
            },
            parents=[str(best_model)],
        )
    )
    artifacts = dict(summary["artifacts"])
    artifacts["final model"] = final.uri or str(final)
    if stable_name:
        with tempfile.TemporaryDirectory(prefix="lightrnn-stable-") as tmp:
            for f in ("table.npz", "vocab.arrow"):
                shutil.copyfile(Path(best_dir) / f, Path(tmp) / f)
            stable = Ref.of(
                store.put(
                    stable_name,
                    tmp,
                    kind="table",
                    meta={"run": run_key, "round": summary["best_round"]},
                    parents=[str(final)],
                )
            )
        artifacts["stable table"] = stable.uri or str(stable)
    markdown = render_report(run_key, summary, rows, artifacts)
    summary = {**summary, "artifacts": artifacts, "final_model": str(final)}
    report = Ref.of(
        store.put_bytes(
            f"runs/{run_key}/report",
            "report.md",
            markdown.encode(),
            kind="report",
            meta={"summary": json.loads(json.dumps(summary, default=str))},
            parents=[str(final)],
        )
    )
    summary["report"] = report.uri or str(report)
    create_markdown_artifact(
        key=f"report-{run_key}", markdown=markdown, description=f"LightRNN run {run_key}"
    )
    logger.info("report: %s", report)
    return summary


def render_report(
    run_key: str, summary: dict[str, Any], rows: list[dict[str, Any]], artifacts: dict[str, str]
) -> str:
    s = summary
    lines = [
        f"# LightRNN run `{run_key}`",
        "",
        f"Profile **{s['profile']}** on corpus `{s['corpus']}` (|V| = {s['vocab_size']:,}, "
        f"table {s['n_rows']} x {s['n_cols']}, {s['train_tokens']:,} training tokens).",
        "",
        f"Stopped after round {len(rows)}: **{s['stop_reason']}**. Final model: round "
        f"{s['best_round']}, validation perplexity **{s['valid_ppl']:.2f}**, test perplexity "
        f"**{s['test_ppl']:.2f}**.",
        "",
        "## Rounds",
        "",
        rounds_markdown(rows),
        "## Model",
        "",
        f"- parameters: {s['parameters']:,} (a full-softmax LSTM of the same sizes: "
        f"{s['full_softmax_parameters']:,}, {s['full_softmax_parameters'] / s['parameters']:.1f}x)",
        f"- training throughput: {s['tokens_per_s']:,.0f} tokens/s on {s['device']}",
        f"- wall time: {s['seconds']:,.0f} s",
        "",
        "## Artifacts",
        "",
        *[f"- {what}: `{uri}`" for what, uri in artifacts.items()],
        "",
    ]
    return "\n".join(lines)
