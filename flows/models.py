"""Using a trained model: what `lightrnn evaluate`, `lightrnn table` (and friends) do.

Each function takes a model reference (NAME[@VERSION] in a store) and returns plain results;
the command line only prints them.
"""

from __future__ import annotations

from dataclasses import dataclass

import storage
from lightrnn.checkpoint import LoadedModel
from lightrnn.corpus import encode_text, read_text
from lightrnn.errors import CheckpointError
from lightrnn.evaluate import evaluate
from lightrnn.table import Line, Table, frequent_rows, neighbours
from tasks.artifacts import get_model


def open_model(model: str, store: str | None) -> LoadedModel:
    """The model artifact `model` ('runs/<run>/final', 'NAME@v3') of the store at `store`."""
    return get_model(storage.open_store(store), model)


@dataclass(frozen=True)
class TextPerplexity:
    ppl: float
    tokens: int
    unk: int
    seconds: float


def evaluate_text(model: str, text: str, store: str | None, batch_size: int = 1) -> TextPerplexity:
    """Perplexity of a stored model on a text file or URL, tokenized like its corpus."""
    loaded = open_model(model, store)
    tok = loaded.tokenizer
    ids = encode_text(read_text(text), loaded.vocab, tok["tokenizer"], tok["lowercase"])
    result = evaluate(loaded.model, ids, batch_size=batch_size)
    unk = int((ids == loaded.vocab.unk_id).sum())
    return TextPerplexity(result.ppl, result.tokens, unk, result.seconds)


@dataclass(frozen=True)
class TableView:
    table: Table
    lines: list[Line]


def inspect_table(
    model: str, store: str | None, rows: int = 10, words: int = 10, word: str | None = None
) -> TableView:
    """The rows of the most frequent words, or one word's row and column."""
    loaded = open_model(model, store)
    table = getattr(loaded.model, "table", None)
    if table is None:
        raise CheckpointError(f"{model} is a baseline model: it has no LightRNN table")
    tokens = loaded.vocab.tokens
    lines = (
        list(neighbours(table, tokens, word, words))
        if word
        else frequent_rows(table, tokens, rows, words)
    )
    return TableView(table, lines)
