"""The run's summaries: a table artifact per round, the final model, a markdown report, and the
stable table for later warm starts."""

from __future__ import annotations

import base64
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks import names
from tasks.artifacts import put_stable, to_json
from tasks.faults import reach
from tasks.files import REPORT
from tasks.final_model import put_final
from tasks.plots import ROUNDS_PLOT, rounds_plot
from tasks.refs import Ref
from tasks.store_task import RETRIES, find, open_store

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


def format_cell(value: Any, digits: int | None = None) -> str:
    """How every table (markdown, terminal, UI) shows a value: thousands separated, '-' for none;
    `digits` significant digits for a float instead of two decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        if digits is not None:
            return f"{value:.{digits}g}"
        return f"{value:,.2f}" if abs(value) < 1e6 else f"{value:.6g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def rounds_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(ROUND_COLUMNS) + " |\n|" + "---:|" * len(ROUND_COLUMNS) + "\n"
    return head + "".join(
        "| " + " | ".join(format_cell(r.get(c)) for c in ROUND_COLUMNS) + " |\n" for r in rows
    )


@task(name="publish-rounds", cache_policy=NO_CACHE)
def publish_rounds_task(run_key: str, rows: list[dict[str, Any]], max_rounds: int) -> None:
    """What someone watching a long run needs, in the Prefect UI, after every round: the round
    table (a new version of the same key each round) and a status note: rounds done, the best
    perplexity so far, words moved, time per round and left, where the artifacts are."""
    create_table_artifact(
        key=f"rounds-{run_key}",
        table=[{c: format_cell(r.get(c)) for c in ROUND_COLUMNS} for r in rows],
        description=f"LightRNN bootstrap rounds of run {run_key}",
    )
    create_markdown_artifact(
        key=f"status-{run_key}",
        markdown=status_markdown(run_key, rows, max_rounds),
        description=f"LightRNN run {run_key}: round {len(rows)} of at most {max_rounds}",
    )


def status_markdown(run_key: str, rows: list[dict[str, Any]], max_rounds: int) -> str:
    best = min(rows, key=lambda r: r["valid_ppl"])
    per_round = sum(r["seconds"] for r in rows) / len(rows)
    left = max_rounds - len(rows)
    moved = ", ".join(
        f"round {r['round']}: {format_cell(r['moved_pct'])}%" for r in rows if r.get("moved_pct")
    )
    lines = [
        f"# Run `{run_key}`: round {len(rows)} of at most {max_rounds} done",
        "",
        f"- best validation perplexity so far: **{best['valid_ppl']:.2f}** (round {best['round']})",
        f"- latest: round {rows[-1]['round']}, valid ppl {rows[-1]['valid_ppl']:.2f}, "
        f"{rows[-1]['steps']:,} steps, {rows[-1]['tokens_per_s']:,.0f} tokens/s",
        f"- words moved by reallocation: {moved or 'none yet'}",
        f"- {per_round / 60:.1f} min per round; at most {left} more "
        f"(~{left * per_round / 60:.0f} min) if the table does not settle first",
        "",
        "| round | model | table |",
        "|---:|:---|:---|",
        *[f"| {r['round']} | `{_uri(r.get('model'))}` | `{_uri(r.get('table'))}` |" for r in rows],
        "",
    ]
    return "\n".join(lines)


def _uri(ref: Ref | None) -> str:
    return "-" if ref is None else ref.uri or str(ref)


# How the work went rather than what it made: a re-run that finds every output in the store
# keeps these from the run that did the work (its report), instead of timing its own lookups.
RUN_TIMINGS = ("seconds", "device")
ROUND_TIMINGS = ("seconds",)


@task(name="write-report", cache_policy=NO_CACHE, **RETRIES)
def write_report_task(store_url: str, summary: dict[str, Any], best_model: Ref) -> dict[str, Any]:
    """Commit the final model and the report; show the report in the UI; the summary + URIs.

    When the run's report already in the store says the same but for its timings (every output
    was a store hit), nothing is written: the summary keeps that report's timings."""
    store = open_store(store_url)
    run_key = summary["run"]
    meta = {k: summary[k] for k in ("best_round", "test_ppl", "valid_ppl", "stop_reason")}
    # the same model and meta as a previous run's final: that version, nothing written
    final = put_final(store, names.final(run_key), best_model, meta)
    reach("report")
    artifacts = {**summary["artifacts"], "final model": final.uri or str(final)}
    summary = {**summary, "artifacts": artifacts, "final_model": str(final)}
    done = _same_report(store, run_key, summary, final)
    if done is not None:
        report, summary = done
        markdown = store.read_bytes(report.name, report.version, REPORT).decode()
        plot = store.read_bytes(report.name, report.version, ROUNDS_PLOT)
        get_run_logger().info("report: already in the store as %s", report)
    else:
        markdown = render_report(summary)
        with tempfile.TemporaryDirectory(prefix="lightrnn-report-") as tmp:
            (Path(tmp) / REPORT).write_text(markdown)
            title = f"LightRNN run {run_key}"
            plot = rounds_plot(summary["rounds"], Path(tmp) / ROUNDS_PLOT, title).read_bytes()
            report = Ref.of(
                store.put(
                    names.report(run_key),
                    tmp,
                    kind="report",
                    meta={"summary": _jsonable(summary)},
                    parents=[str(final)],
                )
            )
        get_run_logger().info("report: %s", report)
    summary["report"] = report.uri or str(report)
    inline = "data:image/png;base64," + base64.b64encode(plot).decode()
    create_markdown_artifact(  # the UI cannot follow report.md's relative link: inline the plot
        key=f"report-{run_key}",
        markdown=markdown.replace(f"]({ROUNDS_PLOT})", f"]({inline})"),
        description=f"LightRNN run {run_key}",
    )
    return summary


def _same_report(
    store: Any, run_key: str, summary: dict[str, Any], final: Ref
) -> tuple[Ref, dict[str, Any]] | None:
    """The run's latest report and `summary` with its timings, when that report was made from
    `final` and says the same as `summary` but for the timings; else None."""
    found = find(store, names.report(run_key))
    if found is None:
        return None
    version = store.resolve(found.name, found.version)
    stored = version.meta.get("summary")
    if list(version.parents) != [str(final)] or not isinstance(stored, dict):
        return None
    if without_timings(stored) != without_timings(summary):
        return None
    kept = {**summary, **{k: stored[k] for k in RUN_TIMINGS if k in stored}}
    kept["rounds"] = [
        {**row, **{k: old[k] for k in ROUND_TIMINGS if k in old}}
        for row, old in zip(summary["rounds"], stored["rounds"], strict=True)
    ]
    return Ref.of(version), kept


def without_timings(summary: dict[str, Any]) -> str:
    """`summary` as canonical JSON, without the timings (what two runs' reports must share)."""
    content = {k: v for k, v in summary.items() if k not in (*RUN_TIMINGS, "report")}
    content["rounds"] = [
        {k: v for k, v in row.items() if k not in ROUND_TIMINGS}
        for row in summary.get("rounds", [])
    ]
    return to_json(content).decode()


@task(name="publish-stable-table", cache_policy=NO_CACHE, **RETRIES)
def publish_stable_task(store_url: str, name: str, final_model: Ref, meta: dict[str, Any]) -> Ref:
    """The final table and its vocabulary under `name`: where later runs warm-start from."""
    store = open_store(store_url)
    ref = put_stable(
        store, name, store.get(final_model.name, final_model.version), meta, [str(final_model)]
    )
    get_run_logger().info("stable table published: %s", ref)
    return ref


def _jsonable(obj: Any) -> Any:
    return json.loads(to_json(obj))


def render_report(summary: dict[str, Any]) -> str:
    s, rows = summary, summary["rounds"]
    lines = [
        f"# LightRNN run `{s['run']}`",
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
        f"![validation perplexity and words moved per round]({ROUNDS_PLOT})",
        "",
        "## Model",
        "",
        f"- parameters: {s['parameters']:,} (a full-softmax LSTM of the same sizes: "
        f"{s['full_softmax_parameters']:,}, {s['full_softmax_parameters'] / s['parameters']:.1f}x)",
        f"- training throughput: {s['tokens_per_s']:,.0f} tokens/s on {s['device']}",
        f"- wall time: {s['seconds']:,.0f} s",
        "",
        "## Artifacts",
        "",
        *[f"- {what}: `{uri}`" for what, uri in s["artifacts"].items()],
        "",
    ]
    return "\n".join(lines)
