"""Corpus input: find the split files, open them (local or fsspec URL, plain or compressed) and
read them as blocks of whole lines, checking that the bytes are text.

Blocks are cut at the last `\\n` within `block_bytes`, so they hold whole lines; a line longer
than a block is cut at ASCII whitespace (never inside a word or a UTF-8 character) and goes on
in the next block. Memory per block is therefore bounded whatever the line lengths, unless a
single word is longer than `MAX_WORD_BYTES`, which is refused as not being text.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import fsspec
import numpy as np
import pyarrow as pa
import zstandard

from lightrnn.errors import CorpusError

SPLITS = ("train", "valid", "test")
COMPRESSIONS = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd"}
MAGIC = {b"\x1f\x8b": ".gz", b"BZh": ".bz2", b"\xfd7zXZ\x00": ".xz", b"\x28\xb5\x2f\xfd": ".zst"}
MAX_WORD_BYTES = 64 << 20  # no whitespace in this many bytes: not text
_BOM = b"\xef\xbb\xbf"
_CUT_SPACES = (b" ", b"\t", b"\r", b"\x0b", b"\x0c")  # ASCII whitespace: safe cut points
_CUT_WINDOW = 1 << 16  # bytes read before a planned cut to find the last line end
_SPLIT_FILE = re.compile(r"^(?:[^/]+\.)?(train|valid|test)(?:\.(?:txt|tokens|raw))?$")
_DECOMPRESS_ERRORS = (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError)
_EXPECTED = "train.txt, valid.txt, test.txt (or .gz/.bz2/.xz/.zst, or NAME.train.txt/.tokens)"


_USERINFO = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s]+@", re.IGNORECASE)
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&](?:[^=&]*(?:signature|credential|token|secret|password|passwd|sig|key)"
    r"[^=&]*))=[^&#]*",
    re.IGNORECASE,
)


def shown(url: str) -> str:
    """`url` as it may appear in messages and manifests: credentials (`user:pass@`) and
    secret-looking query parameters (signatures, tokens, keys) replaced by ***."""
    return _SECRET_QUERY.sub(r"\g<key>=***", _USERINFO.sub(r"\g<scheme>***@", url))


def _strip_compression(name: str) -> tuple[str, str | None]:
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)], suffix
    return name, None


def find_splits(corpus: str) -> dict[str, str]:
    """{"train": url, "valid": url, "test": url} for a corpus directory (local or fsspec URL)."""
    fs, root = fsspec.core.url_to_fs(corpus)
    if not fs.exists(root):
        raise CorpusError(
            f"corpus directory {shown(corpus)!r} does not exist: pass a directory holding "
            f"{_EXPECTED}"
        )
    if not fs.isdir(root):
        raise CorpusError(
            f"corpus {shown(corpus)!r} is a file, not a directory: pass the directory that holds "
            f"{_EXPECTED}, or name the file of each split (train, valid, test) explicitly"
        )
    names = sorted(
        e["name"].rstrip("/").rsplit("/", 1)[-1]
        for e in fs.ls(root, detail=True)
        if e.get("type") == "file"
    )
    found: dict[str, list[str]] = {s: [] for s in SPLITS}
    for name in names:
        match = _SPLIT_FILE.match(_strip_compression(name)[0])
        if match:
            found[match.group(1)].append(name)
    missing = [s for s in SPLITS if not found[s]]
    if missing:
        raise CorpusError(
            f"corpus directory {shown(corpus)!r} has no {' / '.join(missing)} file: expected "
            f"{_EXPECTED}; found {', '.join(names) or 'no files'}. Add the file or name each "
            "split's file explicitly"
        )
    ambiguous = {s: f for s, f in found.items() if len(f) > 1}
    if ambiguous:
        s, files = next(iter(ambiguous.items()))
        raise CorpusError(
            f"corpus directory {shown(corpus)!r} has several {s} files ({', '.join(files)}): "
            "keep one, "
            "or name each split's file explicitly"
        )
    local = "://" not in corpus
    return {
        s: os.path.join(corpus, found[s][0]) if local else f"{corpus.rstrip('/')}/{found[s][0]}"
        for s in SPLITS
    }


def input_size(url: str) -> int:
    """Size in bytes as stored (compressed size for compressed files); 0 if unknown."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        return int(fs.size(path) or 0)
    except FileNotFoundError:
        raise _missing(url) from None


def _missing(url: str) -> CorpusError:
    return CorpusError(f"corpus file {shown(url)!r} does not exist: check the path or URL")


@contextlib.contextmanager
def open_text(url: str) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(decompressed stream, raw file): the raw file's `tell()` measures progress."""
    fs, path = fsspec.core.url_to_fs(url)
    try:
        raw = fs.open(path, "rb")
    except FileNotFoundError:
        raise _missing(url) from None
    with raw, _decompressed(raw, _strip_compression(path)[1]) as stream:
        yield stream, raw


def _decompressed(raw: BinaryIO, suffix: str | None) -> BinaryIO:
    if suffix == ".gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if suffix == ".bz2":
        return bz2.BZ2File(raw, mode="rb")
    if suffix == ".xz":
        return lzma.LZMAFile(raw, mode="rb")
    if suffix == ".zst":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return contextlib.nullcontext(raw)  # type: ignore[return-value]


def _read_full(stream: BinaryIO, n: int, url: str, offset: int) -> bytes:
    """Up to `n` bytes (fewer only at the end), decompression errors named."""
    parts, got = [], 0
    try:
        while got < n:
            part = stream.read(n - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except _DECOMPRESS_ERRORS as exc:
        kind = COMPRESSIONS.get(_strip_compression(url)[1] or "", "compressed")
        raise CorpusError(
            f"corpus file {shown(url)!r}: cannot decompress as {kind} after {offset + got:,} bytes "
            f"({exc}): the file is truncated or not {kind} data; re-create it, or rename it "
            "without the suffix if it is plain text"
        ) from None
    return b"".join(parts)


@dataclass(frozen=True)
class Block:
    """`length` bytes of one file's text from byte `offset`, ending at a line end (or inside an
    over-long line at whitespace). `text` is None for a plain file: the worker reads the range
    itself, so the text never passes through the reading process."""

    index: int
    offset: int  # in the (decompressed) text
    length: int
    ends_line: bool  # False when cut inside an over-long line that goes on in the next block
    stored_bytes: int  # bytes of the file as stored that this block accounts for (progress)
    text: bytes | None = None

    def load(self, url: str) -> bytes:
        """The block's bytes (a range read for a plain file)."""
        if self.text is not None:
            return self.text
        fs, path = fsspec.core.url_to_fs(url)
        with fs.open(path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.length)
        if len(data) != self.length:
            raise CorpusError(
                f"corpus file {shown(url)!r} changed while being read ({len(data):,} bytes at "
                "offset "
                f"{self.offset:,} instead of {self.length:,}): leave it unchanged and prepare again"
            )
        return data


def _cut(buf: bytes) -> tuple[int, bool]:
    """Where to end a block in `buf`: after its last newline; else after its last ASCII
    whitespace, the line going on (never inside a word or a UTF-8 character); else 0."""
    cut = buf.rfind(b"\n") + 1
    if cut:
        return cut, True
    return max(buf.rfind(c) for c in _CUT_SPACES) + 1, False


def _too_long(url: str, n: int, offset: int) -> CorpusError:
    return CorpusError(
        f"corpus file {shown(url)!r}: {n:,} bytes without whitespace from byte offset {offset:,}: "
        "this is not word-level text; pass a text file"
    )


def read_blocks(url: str, block_bytes: int) -> Iterator[Block]:
    """Blocks of about `block_bytes` of `url` in order: byte ranges of a plain local file (read
    by the workers), else the text itself, read here once in order (decompressed; and remote
    files are fetched by this process, whose credentials may be newer than the workers')."""
    fs, path = fsspec.core.url_to_fs(url)
    size = input_size(url)
    local = fsspec.utils.get_protocol(url) in ("file", "local")
    if local and _strip_compression(path)[1] is None and size:
        yield from _plan_ranges(url, fs.open(path, "rb"), size, block_bytes)
    else:
        yield from _stream_blocks(url, block_bytes)


def _plan_ranges(url: str, f: BinaryIO, size: int, block_bytes: int) -> Iterator[Block]:
    """Cut a plain file into ranges, reading only a window before each cut."""
    with f:
        _, pos = _check_start(url, f.read(64))
        first_stored = pos  # a BOM counts towards progress with the first block
        index = 0
        while pos < size:
            end = min(pos + block_bytes, size)
            while True:
                if end == size:
                    cut, ends_line = size - pos, True
                    break
                window = max(pos, end - _CUT_WINDOW)
                f.seek(window)
                cut, ends_line = _cut(f.read(end - window))
                if cut and ends_line:
                    cut += window - pos
                    break
                f.seek(pos)  # a line longer than the window: look at the whole range
                cut, ends_line = _cut(f.read(end - pos))
                if cut:
                    break
                if end - pos > MAX_WORD_BYTES:
                    raise _too_long(url, end - pos, pos)
                end = min(end + block_bytes, size)
            yield Block(index, pos, cut, ends_line, cut + first_stored)
            first_stored = 0
            pos += cut
            index += 1


def _stream_blocks(url: str, block_bytes: int) -> Iterator[Block]:
    """Decompress `url` in order and cut the text into blocks that carry it."""
    with open_text(url) as (stream, raw):
        pending, offset, index, stored = b"", 0, 0, 0
        first = True
        while True:
            chunk = _read_full(stream, block_bytes, url, offset + len(pending))
            if first:
                chunk, offset = _check_start(url, chunk)
                first = False
            buf = pending + chunk if pending else chunk
            if not chunk:  # end of file
                if buf:
                    yield Block(index, offset, len(buf), True, raw.tell() - stored, buf)
                return
            cut, ends_line = _cut(buf)
            if cut == 0:
                if len(buf) > MAX_WORD_BYTES:
                    raise _too_long(url, len(buf), offset)
                pending = buf
                continue
            position = raw.tell()
            yield Block(index, offset, cut, ends_line, position - stored, buf[:cut])
            stored = position
            index += 1
            offset += cut
            pending = buf[cut:]


def _check_start(url: str, chunk: bytes) -> tuple[bytes, int]:
    """Refuse an empty file or a compressed one without its suffix; drop a UTF-8 BOM."""
    offset = 0
    if chunk.startswith(_BOM):
        chunk, offset = chunk[len(_BOM) :], len(_BOM)
    if not chunk:
        raise CorpusError(
            f"corpus file {shown(url)!r} is empty: pass a file with at least one line of text"
        )
    if _strip_compression(url)[1] is None:
        for magic, suffix in MAGIC.items():
            if chunk.startswith(magic):
                raise CorpusError(
                    f"corpus file {shown(url)!r} looks {COMPRESSIONS[suffix]}-compressed but "
                    "its name "
                    f"has no {suffix} suffix: rename it to end in {suffix}"
                )
    return chunk, offset


@dataclass(frozen=True)
class TextProblem:
    """Why a block is not text, and where (byte offset within the block)."""

    kind: str  # "binary" or "encoding"
    offset: int
    newlines_before: int  # newlines in the block before `offset`
    detail: str


def check_text(text: bytes, encoding_errors: str) -> tuple[bytes, TextProblem | None, int]:
    """(text, problem, replaced): NUL bytes mean binary data; invalid UTF-8 is a problem with
    "strict" and becomes U+FFFD with "replace" (`replaced` counts the characters inserted)."""
    nul = text.find(b"\x00")
    if nul >= 0:
        return text, TextProblem("binary", nul, text.count(b"\n", 0, nul), "a NUL byte"), 0
    if text.isascii():
        return text, None, 0
    whole = pa.Array.from_buffers(
        pa.string(), 1, [None, pa.py_buffer(np.array([0, len(text)], np.int32)), pa.py_buffer(text)]
    )
    try:
        whole.validate(full=True)  # C++ UTF-8 check: far faster than decoding in Python
        return text, None, 0
    except pa.ArrowInvalid:
        pass
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = text[exc.start : min(exc.end, exc.start + 4)]
        if encoding_errors != "replace":
            before = text.count(b"\n", 0, exc.start)
            return text, TextProblem("encoding", exc.start, before, f"byte(s) {bad!r}"), 0
    fixed = text.decode("utf-8", "replace").encode("utf-8")
    marker = "\ufffd".encode()
    return fixed, None, fixed.count(marker) - text.count(marker)


def problem_error(url: str, problem: TextProblem, block: Block, lines_before: int) -> CorpusError:
    """The CorpusError for `problem` in `block`; `lines_before`: lines ended before the block."""
    line = lines_before + problem.newlines_before + 1
    where = f"byte offset {block.offset + problem.offset:,} (line {line:,})"
    if _strip_compression(url)[1] is not None:
        where += " of the decompressed text"
    if problem.kind == "binary":
        return CorpusError(
            f"corpus file {shown(url)!r} looks binary: {problem.detail} at {where}; pass a "
            "UTF-8 text file"
        )
    return CorpusError(
        f"corpus file {shown(url)!r} is not valid UTF-8: {problem.detail} at {where}; convert "
        "it to "
        "UTF-8 (for example iconv -f latin1 -t utf-8) or set encoding_errors='replace' to "
        "replace bad bytes with U+FFFD (lightrnn prepare --encoding-errors replace; "
        "lightrnn run --set corpus.encoding_errors=replace)"
    )
