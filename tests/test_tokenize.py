"""Tokenizers: the whitespace one equals Python's str.split() + one <eos> per line, exactly."""

from __future__ import annotations

import sys

import pyarrow as pa
import pytest

from lightrnn.corpus.tokenize import TOKENIZERS, make_tokenizer, tokenize_block
from lightrnn.errors import ConfigError


def reference(text: str, ends_line: bool = True) -> list[str]:
    """Python's split of every line plus <eos>, as the published PTB/WikiText counts are made."""
    lines = text.split("\n")
    out: list[str] = []
    for i, line in enumerate(lines):
        last = i == len(lines) - 1
        if last and line == "":
            break
        out.extend(line.split())
        if not last or ends_line:
            out.append("<eos>")
    return out


def tokens(text: str, name: str = "whitespace", lowercase: bool = False, ends_line: bool = True):
    block = tokenize_block(text.encode(), make_tokenizer(name, lowercase), ends_line)
    words = block.dictionary.to_pylist()
    return [words[i] for i in block.ids]


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "a\n",
        "\n\n",
        " a  b \n\nc d",
        "  \n",
        "x\r\ny\r\n",
        "tab\tsep\x0bvt\x0cff\n",
        "é ü ß\n日本 語\n",
        "<eos> literal <unk>\n",
    ],
)
def test_whitespace_matches_python_split(text: str) -> None:
    assert tokens(text) == reference(text)


def test_every_python_whitespace_character_splits_both_kernels() -> None:
    spaces = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace() and c != 10]
    assert len(spaces) == 28  # \t \v \f \r \x1c-\x1f space \x85 \xa0 ... \u3000
    for ch in spaces:
        for prefix in ("", "é "):  # ASCII-only text and text with other UTF-8 characters
            text = f"{prefix}a{ch}b\nc"
            assert tokens(text) == reference(text), repr(ch)


def test_non_space_characters_do_not_split() -> None:
    text = "a\u200bb c\u00adb d\ufeffe\n"  # zero-width space, soft hyphen, BOM: not whitespace
    assert tokens(text) == ["a\u200bb", "c\u00adb", "d\ufeffe", "<eos>"]


def test_a_line_going_on_in_the_next_block_gets_no_eos() -> None:
    assert tokens("a b\nc d ", ends_line=False) == ["a", "b", "<eos>", "c", "d"]
    assert tokens("a b\nc d ", ends_line=True) == ["a", "b", "<eos>", "c", "d", "<eos>"]
    assert tokens("a b\n", ends_line=False) == ["a", "b", "<eos>"]


def test_lowercase_ascii_and_unicode() -> None:
    assert tokens("The CAT\n", lowercase=True) == ["the", "cat", "<eos>"]
    assert tokens("ÉCOLE Straße\n", lowercase=True) == ["école", "straße", "<eos>"]


def test_raw_tokenizer_isolates_punctuation() -> None:
    assert tokens("Hello, world! It's 3.5\n", "raw") == [
        "Hello", ",", "world", "!", "It", "'", "s", "3", ".", "5", "<eos>",
    ]  # fmt: skip
    assert tokens("Hello, World\n\n", "raw", lowercase=True) == [
        "hello", ",", "world", "<eos>", "<eos>",
    ]  # fmt: skip


def test_block_dictionary_and_counts() -> None:
    block = tokenize_block(b"b a b\n\nb\n", make_tokenizer("whitespace"))
    assert block.n_lines == 3
    counts = dict(zip(*block.counts().to_pydict().values(), strict=True))
    assert counts == {"b": 3, "a": 1, "<eos>": 3}
    assert block.dictionary.to_pylist()[-1] == "<eos>"
    assert block.ids.dtype.name == "int32"


def test_unknown_tokenizer_lists_the_valid_names() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown tokenizer 'bpe': choose one of raw, whitespace"
    ):
        make_tokenizer("bpe")
    assert sorted(TOKENIZERS) == ["raw", "whitespace"]


def test_split_lines_returns_one_list_per_line() -> None:
    lines = pa.array(["a b\n", "\n", "c"])
    assert make_tokenizer("raw").split_lines(lines).to_pylist() == [["a", "b"], [], ["c"]]
