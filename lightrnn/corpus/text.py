"""Scoring any text with a trained model: read it, tokenize it as the corpus was, encode it.

Tokens outside the model's vocabulary become `<unk>`, as in published perplexities.
"""

from __future__ import annotations

import fsspec
import numpy as np

from lightrnn.corpus.inputs import shown
from lightrnn.corpus.tokenize import make_tokenizer, tokenize_block
from lightrnn.errors import CorpusError
from lightrnn.vocab import Vocab


def read_text(url: str) -> bytes:
    """The bytes of a local path or fsspec URL, decompressed by extension, checked as UTF-8."""
    try:
        with fsspec.open(url, "rb", compression="infer") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise CorpusError(
            f"text file {shown(url)!r} does not exist: check the path or URL"
        ) from exc
    if not data.strip():
        raise CorpusError(f"text file {shown(url)!r} is empty: pass a file with at least one word")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CorpusError(
            f"text file {shown(url)!r} is not UTF-8 (byte {exc.start}, line {line}): convert it to "
            "UTF-8 first"
        ) from exc
    return data


def encode_text(
    data: bytes, vocab: Vocab, tokenizer: str = "whitespace", lowercase: bool = False
) -> np.ndarray:
    """Token ids (int32) of UTF-8 text: the corpus tokenizer, `<eos>` after every line."""
    block = tokenize_block(data, make_tokenizer(tokenizer, lowercase), ends_line=True)
    mapping = np.fromiter(
        (vocab.id_of(t) for t in block.dictionary.to_pylist()),
        dtype=np.int32,
        count=len(block.dictionary),
    )
    return mapping[block.ids]
