"""The `lightrnn` command: one door to the pipeline, the store and the model.

It parses, calls a flow or a use case (`flows.models`), and prints; it holds no logic of its own.
Expected errors print as one line, without a traceback (`flows.console`).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

import flows  # noqa: F401 - sets Prefect's defaults before Prefect is imported
from flows.console import console, one_line_errors, print_table
from flows.store_cli import store_app

app = typer.Typer(
    name="lightrnn",
    help="Train LightRNN language models with Prefect; every artifact versioned in a store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(store_app, name="store")

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Artifact store URL: file://..., s3://bucket/prefix, memory://... "
        "(default: a local store under your data directory).",
    ),
]
ModelOpt = Annotated[
    str, typer.Option(help="Model artifact: NAME[@VERSION], e.g. runs/<run>/final.")
]


def _splits(train: str | None, valid: str | None, test: str | None) -> dict[str, str] | None:
    from tasks.corpus import conceal

    given = {k: conceal(v) for k, v in (("train", train), ("valid", valid), ("test", test)) if v}
    return given or None


@app.command()
@one_line_errors
def run(
    corpus: Annotated[
        str | None,
        typer.Option(
            help="Corpus directory or URL with train/valid/test files (default: bundled "
            "WikiText-2)."
        ),
    ] = None,
    store: StoreOpt = None,
    profile: Annotated[
        str,
        typer.Option(
            help="tiny, demo, gpu-medium, gpu-large, gpu-billion (see `lightrnn profiles`)."
        ),
    ] = "demo",
    max_rounds: Annotated[int | None, typer.Option(help="At most this many rounds.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a setting: SECTION.FIELD=VALUE, e.g. train.max_steps=200 (repeatable).",
        ),
    ] = None,
    warm_start: Annotated[
        str | None,
        typer.Option(help="Start from the stable table artifact of this name."),
    ] = None,
    stable_name: Annotated[
        str | None,
        typer.Option(
            help="Publish the final table under this name for later warm starts, if the run "
            "converged."
        ),
    ] = None,
    publish_unconverged: Annotated[
        bool, typer.Option(help="Publish the stable table even if the run did not converge.")
    ] = False,
    train: Annotated[str | None, typer.Option(help="Training file (instead of --corpus).")] = None,
    valid: Annotated[str | None, typer.Option(help="Validation file.")] = None,
    test: Annotated[str | None, typer.Option(help="Test file.")] = None,
) -> None:
    """Run the whole pipeline: prepare, train rounds with reallocation until stable, report."""
    from flows.pipeline import lightrnn_pipeline
    from flows.plan import DEMO_CORPUS, plan_run
    from flows.profiles import parse_overrides
    from tasks.corpus import conceal

    overrides = parse_overrides(set_ or [])
    corpus = conceal(corpus or DEMO_CORPUS)  # credentials never become flow parameters
    splits = _splits(train, valid, test)
    plan_run(corpus, store, profile, max_rounds, overrides, warm_start, splits)  # fail fast
    summary = lightrnn_pipeline(
        corpus=corpus,
        store=store,
        profile=profile,
        max_rounds=max_rounds,
        overrides=overrides,
        warm_start=warm_start,
        stable_name=stable_name,
        publish_unconverged=publish_unconverged,
        splits=splits,
    )
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    from tasks.report import ROUND_COLUMNS, format_cell

    # Compact headers and objectives, so the table fits 80 columns (a pipe or a small terminal).
    short = {"words_moved": "moved", "moved_pct": "moved %", "seconds": "s"}
    headers = [short.get(c, c.replace("_", " ")) for c in ROUND_COLUMNS]
    rows = [
        [format_cell(r.get(c), 4 if c.startswith("objective") else None) for c in ROUND_COLUMNS]
        for r in summary["rounds"]
    ]
    print_table(headers, rows, title=f"LightRNN rounds (run {summary['run']})", out=console)
    console.print(
        f"stopped: [bold]{summary['stop_reason']}[/] · final model round {summary['best_round']}"
        f" · valid ppl [bold]{summary['valid_ppl']:.2f}[/] · test ppl "
        f"[bold]{summary['test_ppl']:.2f}[/] · {summary['parameters']:,} parameters · "
        f"{summary['seconds']:.0f} s"
    )
    console.print(f"store: {summary['store']}")
    for what, uri in summary["artifacts"].items():
        console.print(f"  {what}: {uri}")
    console.print(f"  report: {summary['report']}")


@app.command()
@one_line_errors
def prepare(
    corpus: Annotated[
        str, typer.Argument(help="Directory or URL holding train/valid/test files.")
    ] = ".",
    store: StoreOpt = None,
    train: Annotated[str | None, typer.Option(help="Training file (instead of CORPUS).")] = None,
    valid: Annotated[str | None, typer.Option(help="Validation file.")] = None,
    test: Annotated[str | None, typer.Option(help="Test file.")] = None,
    tokenizer: Annotated[str, typer.Option(help="whitespace (default) or raw.")] = "whitespace",
    lowercase: Annotated[bool, typer.Option(help="Lowercase the text first.")] = False,
    min_count: Annotated[int, typer.Option(help="Rarer training words become <unk>.")] = 1,
    max_size: Annotated[int | None, typer.Option(help="Largest vocabulary.")] = None,
    encoding_errors: Annotated[
        str,
        typer.Option(
            help="strict (stop at the first byte that is not UTF-8, naming the file and offset) "
            "or replace (read it as U+FFFD)."
        ),
    ] = "strict",
) -> None:
    """Tokenize a corpus into a vocabulary and Arrow shards, versioned in the store."""
    from flows.prepare import lightrnn_prepare
    from tasks.corpus import conceal

    info = lightrnn_prepare(
        corpus=conceal(corpus),
        store=store,
        tokenizer=tokenizer,
        lowercase=lowercase,
        min_count=min_count,
        max_size=max_size,
        encoding_errors=encoding_errors,
        splits=_splits(train, valid, test),
    )
    console.print(f"corpus {info.ref} ({info.ref.uri})")
    console.print(f"vocabulary {info.vocab_size:,} words")
    for split, n in info.tokens.items():
        console.print(f"{split} {n:,} tokens")


@app.command()
@one_line_errors
def evaluate(
    model: ModelOpt,
    text: Annotated[str, typer.Option(help="Text file or URL to score (.gz/.xz/... ok).")],
    store: StoreOpt = None,
    batch_size: Annotated[int, typer.Option(help="Parallel segments (1: one history).")] = 1,
) -> None:
    """Perplexity of a model on any text (tokenized like its training corpus)."""
    from flows.models import evaluate_text
    from tasks.terminal import terminal_progress

    with terminal_progress("evaluating", "tokens") as progress:
        result = evaluate_text(model, text, store, batch_size, progress)
    console.print(
        f"{Path(text).name}: perplexity [bold]{result.ppl:.2f}[/] over "
        f"{result.tokens:,} tokens ({result.unk:,} <unk>) in {result.seconds:.1f} s"
    )


@app.command()
@one_line_errors
def score(
    model: ModelOpt,
    text: Annotated[str, typer.Argument(help="Text file or URL; - reads standard input.")] = "-",
    store: StoreOpt = None,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="One JSON object per line.")] = False,
) -> None:
    """Score each line of a text on its own: log-probability, tokens, perplexity, <unk>."""
    from flows.models import score_lines
    from tasks.terminal import terminal_progress

    with terminal_progress("scoring", "lines") as progress:
        scores = score_lines(model, text, store, progress)
    if jsonl:
        for i, s in enumerate(scores, 1):
            row = {"line": i, "log_prob": s.log_prob, "tokens": s.tokens, "ppl": s.ppl}
            print(json.dumps({**row, "unk": s.unk, "text": s.text}, ensure_ascii=False))
    else:
        rows = [
            [
                str(i),
                f"{s.log_prob:.3f}",
                f"{s.tokens:,}",
                f"{s.ppl:.2f}",
                f"{s.unk:,}",
                _short(s.text),
            ]
            for i, s in enumerate(scores, 1)
        ]
        print_table(["line", "log P", "tokens", "ppl", "<unk>", "text"], rows, out=console)
    total = sum(s.log_prob for s in scores)
    tokens = sum(s.tokens for s in scores)
    summary = (
        f"{len(scores):,} lines, {tokens:,} tokens ({sum(s.unk for s in scores):,} <unk>): "
        f"log P {total:.2f}, perplexity {math.exp(-total / tokens):.2f} (each line on its own)"
    )
    typer.echo(summary, err=jsonl)


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
@one_line_errors
def generate(
    model: ModelOpt,
    prompt: Annotated[str, typer.Option(help="Text to continue (may be empty).")] = "",
    store: StoreOpt = None,
    tokens: Annotated[int, typer.Option(help="Tokens to sample.")] = 30,
    temperature: Annotated[float, typer.Option(help="0: always the most likely.")] = 1.0,
    top_k: Annotated[int, typer.Option(help="Sample among the K most likely (0: all).")] = 0,
    seed: Annotated[int, typer.Option(help="The same seed gives the same text.")] = 0,
) -> None:
    """Sample text from a model, row then column (LightRNN) or word (baselines)."""
    from flows.models import generate_text

    text = generate_text(
        model, store, prompt, max_tokens=tokens, temperature=temperature, top_k=top_k, seed=seed
    )
    typer.echo(f"{prompt} {text}".strip() if prompt else text)


@app.command()
@one_line_errors
def export(
    model: ModelOpt,
    out: Annotated[Path, typer.Option(help="A new directory for the exported model.")],
    store: StoreOpt = None,
) -> None:
    """Export a model: safetensors weights, config.json, vocabulary and table as Arrow."""
    from flows.models import export_model

    path = export_model(model, out, store)
    files = sorted(p.name for p in path.iterdir())
    console.print(f"exported to {path}: {', '.join(files)} (load with lightrnn.load('{path}'))")


@app.command()
@one_line_errors
def report(
    run: Annotated[str, typer.Option(help="The run's id (runs/<run>), as `lightrnn run` printed.")],
    store: StoreOpt = None,
    out: Annotated[Path | None, typer.Option(help="Copy the plot into this directory.")] = None,
) -> None:
    """A run's round table and plot."""
    from flows.models import run_report

    result = run_report(run, store, out)
    _print_summary(result.summary)
    if result.plot is not None:
        console.print(f"plot: {result.plot}")


@app.command()
@one_line_errors
def table(
    model: ModelOpt,
    store: StoreOpt = None,
    rows: Annotated[int, typer.Option(help="Show the rows of the most frequent words.")] = 10,
    words: Annotated[int, typer.Option(help="Words shown per row or column.")] = 10,
    word: Annotated[str | None, typer.Option(help="Show this word's row and column.")] = None,
) -> None:
    """Look inside a model's table: which words share a row or a column."""
    from flows.models import inspect_table

    view = inspect_table(model, store, rows, words, word)
    t = view.table
    console.print(f"{t.vocab_size:,} words in {t.n_rows} x {t.n_cols} cells")
    for line in view.lines:
        more = f" (+{line.size - len(line.words)})" if line.size > len(line.words) else ""
        console.print(f"{line.axis} {line.index:>4}: {' '.join(line.words)}{more}")


@app.command()
@one_line_errors
def node(
    rdzv_endpoint: Annotated[str, typer.Option(help="HOST:PORT of node 0, as its run was given.")],
    node_rank: Annotated[int, typer.Option(help="This machine's rank: 1, 2, ...")],
    store: StoreOpt = None,
    timeout_minutes: Annotated[
        float, typer.Option(help="Stop after this long without a round from node 0.")
    ] = 60.0,
) -> None:
    """Join a multi-machine run: train this node's share of each round node 0 starts."""
    import storage
    from flows.node import lightrnn_node

    url = store or storage.default_store_url()
    rounds = lightrnn_node(url, rdzv_endpoint, node_rank, timeout_minutes)
    console.print(f"node {node_rank}: {rounds} round(s) trained")


@app.command()
def profiles() -> None:
    """List the named profiles and their settings."""
    from flows.profiles import PROFILES

    for name, profile in PROFILES.items():
        console.print(f"[bold]{name}[/]: {profile.description}")
        for section, values in profile.settings.to_dict().items():
            if section != "profile":
                console.print(f"  {section}: {json.dumps(values)}")


def main() -> None:
    """Console entry point."""
    app()
