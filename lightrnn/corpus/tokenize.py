"""Tokenizers, chosen by name, and the tokenization of one block of text into local ids.

`whitespace` (the default) is Python's `str.split()` per line plus one `<eos>` per line, blank
lines included: the convention behind published PTB and WikiText perplexities. It runs as Arrow
C++ kernels (`utf8_split_whitespace` splits on exactly the code points `str.split()` does; its
empty strings at line edges are dropped). `raw` is for untokenized text: Hugging Face
`tokenizers` pre-tokenizers split on whitespace and isolate every punctuation character.

A block is a run of whole lines (or of whole words of one very long line) as UTF-8 bytes. It
becomes a local dictionary (its distinct tokens, `<eos>` last) and int32 ids into it; the corpus
step maps local ids to vocabulary ids once the vocabulary is known, so text is read only once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightrnn.errors import ConfigError
from lightrnn.vocab import EOS

# Whitespace for Python's str.split() that Arrow's ASCII kernel does not split on. A block with
# none of these may use that kernel (twice as fast); the search costs a fraction of the gain.
_ODD_ASCII_SPACES = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_ODD_SPACES_RE2 = "[\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"


class Tokenizer(Protocol):
    """Splits lines into words; `<eos>` is added by the caller, never by the tokenizer."""

    name: str
    lowercase: bool

    def split_lines(
        self, lines: pa.StringArray, ascii_text: bool = False, ascii_spaces: bool = False
    ) -> pa.ListArray:
        """Words of each line (may contain empty strings, which the caller drops).

        Speed hints: `ascii_text`, the text is ASCII; `ascii_spaces`, its only whitespace is
        tab, newline, \\v, \\f, \\r and space.
        """
        ...


@dataclass(frozen=True)
class WhitespaceTokenizer:
    """Python `str.split()` on each line; optional Unicode lowercasing (Arrow `utf8_lower`)."""

    lowercase: bool = False
    name: str = "whitespace"

    def split_lines(
        self, lines: pa.StringArray, ascii_text: bool = False, ascii_spaces: bool = False
    ) -> pa.ListArray:
        if self.lowercase:
            lines = pc.ascii_lower(lines) if ascii_text else pc.utf8_lower(lines)
        if ascii_spaces:  # splits bytes; UTF-8 multi-byte characters never hold ASCII bytes
            return pc.ascii_split_whitespace(lines)
        return pc.utf8_split_whitespace(lines)


@dataclass(frozen=True)
class RawTokenizer:
    """Whitespace split, then every punctuation character as its own token (HF `tokenizers`
    `WhitespaceSplit` + `Punctuation("isolated")`); optional lowercasing (HF `Lowercase`)."""

    lowercase: bool = False
    name: str = "raw"

    def split_lines(
        self, lines: pa.StringArray, ascii_text: bool = False, ascii_spaces: bool = False
    ) -> pa.ListArray:
        from tokenizers import normalizers, pre_tokenizers

        pre = pre_tokenizers.Sequence(
            [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation("isolated")]
        )
        lower = normalizers.Lowercase() if self.lowercase else None
        words: list[str] = []
        offsets = [0]
        for line in lines.to_pylist():
            if lower is not None:
                line = lower.normalize_str(line)
            words.extend(tok for tok, _ in pre.pre_tokenize_str(line))
            offsets.append(len(words))
        return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(words, pa.string()))


TOKENIZERS: dict[str, Callable[[bool], Tokenizer]] = {
    "whitespace": lambda lowercase: WhitespaceTokenizer(lowercase=lowercase),
    "raw": lambda lowercase: RawTokenizer(lowercase=lowercase),
}


def make_tokenizer(name: str, lowercase: bool = False) -> Tokenizer:
    """The tokenizer registered under `name`."""
    if name not in TOKENIZERS:
        raise ConfigError(
            f"unknown tokenizer {name!r}: choose one of {', '.join(sorted(TOKENIZERS))}"
        )
    return TOKENIZERS[name](lowercase)


@dataclass(frozen=True)
class BlockIds:
    """One block as local ids: `dictionary[ids]` is its token stream, `<eos>` included."""

    dictionary: pa.StringArray  # distinct tokens of the block, `<eos>` last (may repeat one)
    ids: np.ndarray  # [n_tokens] int32 indices into `dictionary`
    n_lines: int  # lines ended in this block (= `<eos>` tokens)

    def counts(self) -> pa.Table:
        """(token, count) of the tokens that occur, duplicates not merged."""
        n = np.bincount(self.ids, minlength=len(self.dictionary))
        table = pa.table({"token": self.dictionary, "count": pa.array(n, pa.int64())})
        return table.filter(pc.greater(table.column("count"), 0))


def line_array(text: bytes) -> pa.StringArray:
    """The lines of `text` (each with its `\\n`, the last maybe without), without a copy."""
    newlines = np.flatnonzero(np.frombuffer(text, np.uint8) == 10)
    ends = newlines + 1
    if len(text) and (not len(ends) or ends[-1] != len(text)):
        ends = np.append(ends, len(text))
    offsets = np.concatenate([[0], ends]).astype(np.int32)
    return pa.Array.from_buffers(
        pa.string(), len(offsets) - 1, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )


def tokenize_block(text: bytes, tokenizer: Tokenizer, ends_line: bool = True) -> BlockIds:
    """Tokenize valid UTF-8 `text` of whole lines; `ends_line`: its last line (if it lacks a
    `\\n`) ends there (end of file) rather than going on in the next block."""
    lines = line_array(text)
    ascii_text = text.isascii()
    if ascii_text:
        ascii_spaces = not any(sep in text for sep in _ODD_ASCII_SPACES)
    else:
        whole = pa.Array.from_buffers(
            pa.string(),
            1,
            [None, pa.py_buffer(np.array([0, len(text)], np.int32)), lines.buffers()[2]],
        )
        ascii_spaces = not pc.match_substring_regex(whole, _ODD_SPACES_RE2)[0].as_py()
    words = tokenizer.split_lines(lines, ascii_text=ascii_text, ascii_spaces=ascii_spaces)
    list_offsets = words.offsets.to_numpy()
    list_offsets = list_offsets - list_offsets[0]
    encoded = pc.dictionary_encode(words.flatten())
    dictionary, ids = encoded.dictionary, encoded.indices.to_numpy(zero_copy_only=False)
    empty = pc.index(dictionary, "").as_py()
    if empty >= 0:  # Arrow's split leaves "" at line edges; str.split() never yields one
        empties = np.flatnonzero(ids == empty)  # a few per line, far fewer than words
        list_offsets = list_offsets - np.searchsorted(empties, list_offsets)
        ids = np.delete(ids, empties)
    n_lines = len(lines)
    if n_lines and not text.endswith(b"\n") and not ends_line:
        n_lines -= 1  # the last line goes on in the next block: no <eos> yet
    eos_at = list_offsets[1 : n_lines + 1] + np.arange(n_lines)  # after each ended line
    out = np.empty(len(ids) + n_lines, dtype=np.int32)
    is_word = np.ones(len(out), dtype=bool)
    is_word[eos_at] = False
    out[is_word] = ids
    out[eos_at] = len(dictionary)
    dictionary = pa.concat_arrays([dictionary, pa.array([EOS], pa.string())])
    return BlockIds(dictionary=dictionary, ids=out, n_lines=n_lines)
