"""Arrow shards of int32 token ids, the manifest that lists them, and the memory-mapped reader.

A shard is an Arrow IPC file (uncompressed, so it maps without a copy) holding one record batch
with one int32 column `ids`. Its schema metadata names the split, the shard's index, its first
position in the split, its token count, the vocabulary digest and the sha256 of its ids (little
endian int32); the manifest adds the sha256 of the file. Files are written under a temporary
name and renamed; `manifest.json` is written last, so a directory without it is unfinished.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass

import fsspec
import numpy as np
import pyarrow as pa

from lightrnn.corpus.inputs import shown
from lightrnn.errors import DataError

SHARD_FORMAT = "lightrnn.shard/1"
CORPUS_FORMAT = "lightrnn.corpus/1"
MANIFEST = "manifest.json"
VOCAB_FILE = "vocab.arrow"


@dataclass(frozen=True)
class ShardInfo:
    """One shard file, relative to the corpus directory."""

    file: str  # e.g. "train/00000.arrow"
    tokens: int
    sha256: str  # of the file's bytes


@dataclass(frozen=True)
class SplitInfo:
    """What one split became: its token stream's size and digest, and its shards in order."""

    tokens: int  # ids in the split, `<eos>` included
    lines: int  # = `<eos>` ids
    unk_tokens: int  # ids equal to `<unk>` (out-of-vocabulary words and literal `<unk>`)
    replaced_chars: int  # U+FFFD inserted for bad bytes (encoding_errors="replace")
    sha256: str  # of all the split's ids, little-endian int32, in order
    source: str  # the input file or URL
    shards: tuple[ShardInfo, ...]

    @classmethod
    def from_json(cls, data: dict) -> SplitInfo:
        shards = tuple(ShardInfo(**s) for s in data["shards"])
        return cls(**{**data, "shards": shards})


def write_atomic(fs: fsspec.AbstractFileSystem, path: str, data: pa.Buffer | bytes) -> None:
    """Write under a temporary name, then rename: a reader never sees a partial file."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        with fs.open(tmp, "wb") as f:
            f.write(data)
        fs.mv(tmp, path)
    except BaseException:
        if fs.exists(tmp):
            fs.rm(tmp)
        raise


class ShardWriter:
    """Cuts one split's id stream into shards of `shard_tokens` ids and writes each atomically.

    Hashing and writing run on one background thread (hashlib and Arrow release the GIL), in
    shard order, while the caller maps the next ids; at most one full shard waits for it.
    Use as a context manager, and call `close()` for the shard list.
    """

    def __init__(
        self,
        fs: fsspec.AbstractFileSystem,
        root: str,
        split: str,
        shard_tokens: int,
        vocab_digest: str,
    ) -> None:
        self.fs, self.root, self.split = fs, root, split
        self.vocab_digest = vocab_digest
        self.shard_tokens = shard_tokens
        self.buffer = np.empty(shard_tokens, dtype=np.int32)  # [shard_tokens] ids being filled
        self.filled = 0
        self.queued = 0  # ids handed to the writer thread
        self.shards: list[ShardInfo] = []
        self.ids_hash = hashlib.sha256()  # over the whole split, in order
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"shards-{split}")
        self._pending: Future | None = None
        fs.makedirs(f"{root}/{split}", exist_ok=True)

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.shutdown(wait=True)

    def write(self, ids: np.ndarray) -> None:
        ids = ids.astype("<i4", copy=False)
        while len(ids):
            take = min(len(ids), self.shard_tokens - self.filled)
            self.buffer[self.filled : self.filled + take] = ids[:take]
            self.filled += take
            ids = ids[take:]
            if self.filled == self.shard_tokens:
                self._flush()

    def close(self) -> tuple[ShardInfo, ...]:
        """Write the last (short) shard, wait for the writer thread; the shards in order."""
        if self.filled:
            self._flush()
        self._wait()
        return tuple(self.shards)

    @property
    def sha256(self) -> str:
        return self.ids_hash.hexdigest()

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()  # re-raises the writer thread's error here
            self._pending = None

    def _flush(self) -> None:
        ids = self.buffer[: self.filled]
        self._wait()
        self._pending = self._thread.submit(self._write_shard, ids, len(self.shards), self.queued)
        self.queued += self.filled
        self.buffer = np.empty(self.shard_tokens, dtype=np.int32)
        self.filled = 0

    def _write_shard(self, ids: np.ndarray, index: int, start: int) -> None:
        self.ids_hash.update(ids.data)
        meta = {
            "format": SHARD_FORMAT,
            "split": self.split,
            "index": str(index),
            "start": str(start),
            "tokens": str(len(ids)),
            "vocab_digest": self.vocab_digest,
            "ids_sha256": hashlib.sha256(ids.data).hexdigest(),
        }
        schema = pa.schema([("ids", pa.int32())], metadata=meta)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, schema) as writer:
            writer.write_batch(pa.record_batch([pa.array(ids)], schema=schema))
        data = sink.getvalue()
        rel = f"{self.split}/{index:05d}.arrow"
        write_atomic(self.fs, f"{self.root}/{rel}", data)
        self.shards.append(ShardInfo(rel, len(ids), hashlib.sha256(data).hexdigest()))


def corpus_digest(vocab_digest: str, splits: dict[str, SplitInfo]) -> str:
    """Names a prepared corpus by its contents: the vocabulary and every shard file."""
    named = {
        "format": CORPUS_FORMAT,
        "vocab": vocab_digest,
        "splits": {s: [sh.sha256 for sh in info.shards] for s, info in sorted(splits.items())},
    }
    return hashlib.sha256(json.dumps(named, sort_keys=True).encode()).hexdigest()


def manifest_json(
    digest: str, vocab: dict, splits: dict[str, SplitInfo], config: dict, tokenizer: dict
) -> bytes:
    """The manifest's bytes: stable key order, no timestamps, so equal inputs give equal bytes."""
    data = {
        "format": CORPUS_FORMAT,
        "digest": digest,
        "vocab": vocab,
        "splits": {s: asdict(info) for s, info in splits.items()},
        "config": config,
        "tokenizer": tokenizer,
    }
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode()


def read_manifest(corpus_dir: str) -> dict:
    """The manifest of a finished corpus directory (local path or fsspec URL)."""
    fs, root = fsspec.core.url_to_fs(corpus_dir)
    try:
        data = json.loads(fs.cat_file(f"{root.rstrip('/')}/{MANIFEST}"))
    except FileNotFoundError:
        raise DataError(
            f"{corpus_dir!r} holds no finished prepared corpus ({MANIFEST} is missing: it was "
            "never prepared, or its preparation did not finish): prepare the corpus again"
        ) from None
    if data.get("format") != CORPUS_FORMAT:
        raise DataError(
            f"{corpus_dir}/{MANIFEST} has format {data.get('format')!r}, not {CORPUS_FORMAT!r}: "
            "prepare the corpus again with this version"
        )
    return data


class ShardStream:
    """All shards of a split as one TokenStream: `len()` and `stream[a:b]` -> int32 ids.

    The shards stay memory-mapped; a slice copies only the ids it returns.
    """

    def __init__(self, parts: list[np.ndarray], keep: list[object], name: str) -> None:
        self._parts = parts  # [n_i] int32 views into the mapped files
        self._keep = keep  # the memory maps the views point into
        self._starts = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).tolist()
        self.name = name

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: slice | int) -> np.ndarray:
        n = len(self)
        if isinstance(index, int | np.integer):
            i = int(index) + n if index < 0 else int(index)
            if not 0 <= i < n:
                raise IndexError(f"{self.name}: index {index} outside [0, {n})")
            k = bisect.bisect_right(self._starts, i) - 1
            return self._parts[k][i - self._starts[k]]
        start, stop, step = index.indices(n)
        if step != 1:
            raise DataError(f"{self.name}: slices with a step ({step}) are not supported")
        if stop <= start:
            return np.empty(0, dtype=np.int32)
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_left(self._starts, stop) - 1
        pieces = [
            self._parts[k][max(start - self._starts[k], 0) : stop - self._starts[k]]
            for k in range(first, last + 1)
        ]
        return np.concatenate(pieces) if len(pieces) > 1 else pieces[0].copy()

    def __repr__(self) -> str:
        return f"ShardStream({self.name}, {len(self):,} ids in {len(self._parts)} shards)"


def open_split(
    corpus_dir: str, split: str, verify: bool = False, cache_dir: str | None = None
) -> ShardStream:
    """The ids of `split` in a prepared corpus, memory-mapped; `verify` re-hashes every shard.

    Local shards are mapped in place; shards behind another fsspec URL are first copied to a
    local cache (`cache_dir`, default a temporary directory) and mapped there.
    """
    manifest = read_manifest(corpus_dir)
    if split not in manifest["splits"]:
        raise DataError(
            f"{corpus_dir!r} has no split {split!r}: it holds {', '.join(manifest['splits'])}"
        )
    info = SplitInfo.from_json(manifest["splits"][split])
    vocab_digest = manifest["vocab"]["digest"]
    base = corpus_dir.rstrip("/")
    local = fsspec.utils.get_protocol(corpus_dir) in ("file", "local")
    parts, keep = [], []
    for shard in info.shards:
        url = f"{base}/{shard.file}"
        if local:
            path = fsspec.core.url_to_fs(url)[1]
        else:
            opts = {"cache_storage": cache_dir} if cache_dir else {}
            path = fsspec.open_local(f"simplecache::{url}", simplecache=opts)
        try:
            mapped = pa.memory_map(path, "r")
        except FileNotFoundError:
            raise DataError(
                f"shard {shown(url)!r} listed in the manifest is missing: prepare the corpus again"
            ) from None
        if verify:
            got = hashlib.sha256(memoryview(mapped.read_buffer())).hexdigest()
            if got != shard.sha256:
                raise DataError(
                    f"shard {shown(url)!r} has sha256 {got[:12]}..., the manifest says "
                    f"{shard.sha256[:12]}...: the file is corrupt; prepare the corpus again"
                )
            mapped.seek(0)
        reader = pa.ipc.open_file(mapped)
        meta = {k.decode(): v.decode() for k, v in (reader.schema.metadata or {}).items()}
        if (
            meta.get("split") != split
            or int(meta.get("tokens", -1)) != shard.tokens
            or meta.get("vocab_digest") != vocab_digest
        ):
            raise DataError(
                f"shard {shown(url)!r} does not match the manifest (split, token count or "
                "vocabulary "
                "digest differ): the directory mixes two preparations; prepare the corpus again"
            )
        ids = reader.get_batch(0).column(0).to_numpy(zero_copy_only=True)
        parts.append(ids)
        keep.append(mapped)
    return ShardStream(parts, keep, name=f"{corpus_dir}:{split}")
