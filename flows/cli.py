"""The `lightrnn` command: one door to the pipeline, the store and the model.

It turns command-line input into flow parameters and library calls; it holds no logic of its own.
Expected errors (bad input, an unreachable store) print as one line, without a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table as RichTable

import flows  # noqa: F401 - sets Prefect's defaults before Prefect is imported
from flows.store_cli import store_app

app = typer.Typer(
    name="lightrnn",
    help="Train LightRNN language models with Prefect; every artifact versioned in a store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(store_app, name="store")
console = Console(soft_wrap=True)

StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Artifact store URL: file://..., s3://bucket/prefix, memory://... "
        "(default: a local store under your data directory).",
    ),
]


def _splits(train: str | None, valid: str | None, test: str | None) -> dict[str, str] | None:
    given = {k: v for k, v in (("train", train), ("valid", valid), ("test", test)) if v}
    return given or None


@app.command()
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
        typer.Option(
            help="Start from the stable table artifact of this name, e.g. stable/default."
        ),
    ] = None,
    stable_name: Annotated[
        str, typer.Option(help="Publish the final table under this name for later warm starts.")
    ] = "stable/default",
    train: Annotated[str | None, typer.Option(help="Training file (instead of --corpus).")] = None,
    valid: Annotated[str | None, typer.Option(help="Validation file.")] = None,
    test: Annotated[str | None, typer.Option(help="Test file.")] = None,
) -> None:
    """Run the whole pipeline: prepare, train rounds with reallocation until stable, report."""
    from flows.pipeline import lightrnn_pipeline
    from flows.plan import DEMO_CORPUS, plan_run
    from flows.profiles import parse_overrides

    overrides = parse_overrides(set_ or [])
    corpus = corpus or DEMO_CORPUS
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
        splits=splits,
    )
    _print_summary(summary)


def _print_summary(summary: dict[str, Any]) -> None:
    from tasks.report import ROUND_COLUMNS, _fmt

    # Compact headers and objectives, so the table fits 80 columns (a pipe or a small terminal).
    short = {"words_moved": "moved", "moved_pct": "moved %", "seconds": "s"}
    table = RichTable(
        title=f"LightRNN rounds (run {summary['run']})", box=box.SIMPLE_HEAD, pad_edge=False
    )

    def cell(column: str, value: Any) -> str:
        if column.startswith("objective") and isinstance(value, float):
            return f"{value:.4g}"
        return _fmt(value)

    rows = [[cell(c, row.get(c)) for c in ROUND_COLUMNS] for row in summary["rounds"]]
    for i, column in enumerate(ROUND_COLUMNS):
        widest = max((len(r[i]) for r in rows), default=1)
        header = short.get(column, column.replace("_", " "))
        table.add_column(header, justify="right", min_width=widest)
    for cells in rows:
        table.add_row(*cells)
    console.print(table)
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
    from flows.prepare import prepare_corpus

    info = prepare_corpus(
        corpus=corpus,
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
def evaluate(
    model: Annotated[
        str, typer.Option(help="Model artifact: NAME[@VERSION], e.g. runs/<run>/final.")
    ],
    text: Annotated[str, typer.Option(help="Text file or URL to score (.gz/.xz/... ok).")],
    store: StoreOpt = None,
    batch_size: Annotated[int, typer.Option(help="Parallel segments (1: one history).")] = 1,
) -> None:
    """Perplexity of a stored model on any text (tokenized like its training corpus)."""
    import storage
    from lightrnn.evaluate import evaluate as evaluate_stream
    from lightrnn.corpus.text import encode_text, read_text
    from tasks.artifacts import get_model

    lm, vocab, tok = get_model(storage.open_store(store), model)
    ids = encode_text(read_text(text), vocab, tok["tokenizer"], tok["lowercase"])
    result = evaluate_stream(lm, ids, batch_size=batch_size)
    unk = int((ids == vocab.unk_id).sum())
    console.print(
        f"{Path(text).name}: perplexity [bold]{result.ppl:.2f}[/] over "
        f"{result.tokens:,} tokens ({unk:,} <unk>) in {result.seconds:.1f} s"
    )


@app.command()
def table(
    model: Annotated[
        str, typer.Option(help="Model artifact: NAME[@VERSION], e.g. runs/<run>/final.")
    ],
    store: StoreOpt = None,
    rows: Annotated[int, typer.Option(help="Show the rows of the most frequent words.")] = 10,
    words: Annotated[int, typer.Option(help="Words shown per row or column.")] = 10,
    word: Annotated[str | None, typer.Option(help="Show this word's row and column.")] = None,
) -> None:
    """Look inside a model's table: which words share a row or a column."""
    import storage
    from lightrnn.errors import CheckpointError
    from lightrnn.table import frequent_rows, neighbours
    from tasks.artifacts import get_model

    lm, vocab, _ = get_model(storage.open_store(store), model)
    allocation = getattr(lm, "table", None)
    if allocation is None:
        raise CheckpointError(f"{model} is a baseline model: it has no LightRNN table")
    console.print(
        f"{allocation.vocab_size:,} words in {allocation.n_rows} x {allocation.n_cols} cells"
    )
    lines = (
        neighbours(allocation, vocab.tokens, word, words)
        if word
        else frequent_rows(allocation, vocab.tokens, rows, words)
    )
    for line in lines:
        more = f" (+{line.size - len(line.words)})" if line.size > len(line.words) else ""
        console.print(f"{line.axis} {line.index:>4}: {' '.join(line.words)}{more}")


@app.command()
def profiles() -> None:
    """List the named profiles and their settings."""
    import json

    from flows.profiles import PROFILES

    for name, data in PROFILES.items():
        console.print(f"[bold]{name}[/]: {data['description']}")
        for section, values in data.items():
            if section != "description":
                console.print(f"  {section}: {json.dumps(values)}")


def main() -> None:
    """Console entry point: run the app, printing expected errors without a traceback."""
    from lightrnn.errors import LightRNNError
    from storage.errors import StoreError

    try:
        app()
    except (LightRNNError, StoreError) as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
