"""Using a trained model: what `lightrnn evaluate | score | generate | export | table | report`
do. Each function takes a model (NAME[@VERSION] in a store, or an exported directory) and
returns plain results; the command line only prints them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import lightrnn
import storage
from lightrnn.checkpoint import LoadedModel
from lightrnn.corpus import read_text
from lightrnn.errors import CheckpointError, TableError
from lightrnn.evaluate import evaluate
from lightrnn.export import export_dir
from lightrnn.language_model import LanguageModel, TextScore
from lightrnn.progress import ProgressFn
from lightrnn.table import Line, Table, frequent_rows, neighbours
from tasks import names
from tasks.artifacts import split_ref
from tasks.files import REPORT
from tasks.plots import ROUNDS_PLOT


def open_model(model: str, store: str | None, device: str = "cpu") -> LanguageModel:
    """The model artifact `model` ('runs/<run>/final', 'NAME@v3') of the store at `store`, or
    the model in directory `model` (from `lightrnn export`)."""
    if Path(model).is_dir():
        return lightrnn.load(model, device=device)
    name, version = split_ref(model)
    return lightrnn.load(f"{name}@{version}", store=storage.open_store(store), device=device)


@dataclass(frozen=True)
class TextPerplexity:
    ppl: float
    tokens: int
    unk: int
    seconds: float


def evaluate_text(
    model: str,
    text: str,
    store: str | None,
    batch_size: int = 1,
    progress: ProgressFn | None = None,
) -> TextPerplexity:
    """Perplexity of a model on a text file or URL, tokenized like its corpus."""
    lm = open_model(model, store)
    ids = lm.encode(read_text(text))
    result = evaluate(lm.model, ids, batch_size=batch_size, progress=progress)
    unk = int((ids == lm.vocab.unk_id).sum())
    return TextPerplexity(result.ppl, result.tokens, unk, result.seconds)


def score_lines(
    model: str, text: str, store: str | None, progress: ProgressFn | None = None
) -> list[TextScore]:
    """Every line of a text file ('-': standard input) scored on its own, `<eos>` included (so
    an empty line scores its `<eos>`)."""
    lm = open_model(model, store)
    lines = read_text(text).splitlines()
    scores = lm.score([line + "\n" for line in lines], progress=progress)
    return [replace(s, text=line) for s, line in zip(scores, lines, strict=True)]


def generate_text(model: str, store: str | None, prompt: str, **options: Any) -> str:
    """Text sampled after `prompt` (options: max_tokens, temperature, top_k, seed)."""
    return open_model(model, store).generate(prompt, **options)


def export_model(model: str, out: Path, store: str | None) -> Path:
    """The model as a directory `lightrnn.load` reads with no store (safetensors, JSON, Arrow):
    a run's final model already is one, written out as stored; a model in the checkpoint
    layout (a round's, or a final model stored by an older version) is converted."""
    lm = open_model(model, store)
    return export_dir(LoadedModel(lm.model, lm.vocab, lm.tokenizer), out)


@dataclass(frozen=True)
class RunReport:
    summary: dict[str, Any]
    markdown: str
    plot: Path | None  # the PNG of validation perplexity and words moved per round


def run_report(run: str, store: str | None, out: Path | None = None) -> RunReport:
    """A run's stored report: its summary, markdown and plot (copied into `out` if given)."""
    opened = storage.open_store(store)
    name = run if run.startswith("runs/") else names.report(run)
    version = opened.resolve(name)
    root = opened.get(name)
    plot = root / ROUNDS_PLOT if (root / ROUNDS_PLOT).is_file() else None
    if out is not None and plot is not None:
        out.mkdir(parents=True, exist_ok=True)
        plot = Path(shutil.copyfile(plot, out / ROUNDS_PLOT))
    summary = {**version.meta["summary"], "report": version.uri}
    return RunReport(summary, (root / REPORT).read_text(), plot)


@dataclass(frozen=True)
class TableView:
    table: Table
    lines: list[Line]


def inspect_table(
    model: str, store: str | None, rows: int = 10, words: int = 10, word: str | None = None
) -> TableView:
    """The rows of the most frequent words, or one word's row and column."""
    lm = open_model(model, store)
    if lm.table is None:
        raise CheckpointError(f"{model} is a baseline model: it has no LightRNN table")
    shortlist = lm.model.config.shortlist
    tokens = lm.vocab.tokens[shortlist:]  # the table's words
    if word is not None and word in lm.vocab.tokens[:shortlist]:
        raise TableError(
            f"{word!r} is one of the {shortlist:,} most frequent words, which this model "
            "predicts directly (its shortlist), so it has no row or column: pick a rarer word"
        )
    lines = (
        list(neighbours(lm.table, tokens, word, words))
        if word
        else frequent_rows(lm.table, tokens, rows, words)
    )
    return TableView(lm.table, lines)
