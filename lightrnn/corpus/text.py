"""Scoring any text with a trained model: read it, tokenize it as the corpus was, encode it.

Tokens outside the model's vocabulary become `<unk>`, as in published perplexities.
"""

from __future__ import annotations

import sys

import fsspec
import numpy as np

from lightrnn.corpus.inputs import shown
from lightrnn.corpus.tokenize import make_tokenizer, tokenize_block
from lightrnn.errors import CorpusError
from lightrnn.vocab import Vocab


def read_text(url: str) -> str:
    """The text of a local path or fsspec URL ('-': standard input), decompressed by extension,
    checked as non-empty UTF-8."""
    if url == "-":
        return check_text(sys.stdin.buffer.read(), "standard input")
    try:
        with fsspec.open(url, "rb", compression="infer") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise CorpusError(
            f"text file {shown(url)!r} does not exist: check the path or URL"
        ) from exc
    return check_text(data, f"text file {shown(url)!r}")


def check_text(data: bytes, what: str) -> str:
    """`data` decoded, or a clear error when it is empty or not UTF-8 (naming byte and line)."""
    if not data.strip():
        raise CorpusError(f"{what} is empty: pass text with at least one word")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"{what} is not UTF-8 (byte {exc.start}, line {line}): convert it to UTF-8 first, "
            "e.g. iconv -f latin1 -t utf-8"
        ) from exc


def encode_text(
    data: bytes,
    vocab: Vocab,
    tokenizer: str = "whitespace",
    lowercase: bool = False,
    ends_line: bool = True,
) -> np.ndarray:
    """Token ids (int32) of UTF-8 text: the corpus tokenizer, `<eos>` after every line (after
    the last one only with `ends_line`, or when the text ends in a newline)."""
    block = tokenize_block(data, make_tokenizer(tokenizer, lowercase), ends_line=ends_line)
    mapping = np.fromiter(
        (vocab.id_of(t) for t in block.dictionary.to_pylist()),
        dtype=np.int32,
        count=len(block.dictionary),
    )
    return mapping[block.ids]
