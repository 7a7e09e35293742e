"""The vocabulary: token <-> id, with counts, in a deterministic order.

Order is count descending, then token (byte order), so the same counts always give the same ids.
`<unk>` stands for every token outside the vocabulary; `<eos>` ends every line.
On disk it is an Arrow IPC file with columns (token, count, id) and the digest in the schema
metadata (`Vocab.save` / `Vocab.load`, local paths or any fsspec URL).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lightrnn.errors import CorpusError, DataError

UNK = "<unk>"
EOS = "<eos>"
VOCAB_FORMAT = "lightrnn.vocab/1"
_META_FORMAT = b"format"
_META_DIGEST = b"digest"


@dataclass(frozen=True)
class Vocab:
    """Tokens in id order with their training counts."""

    tokens: tuple[str, ...]
    counts: tuple[int, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)
    _digest: list[str] = field(init=False, repr=False, compare=False)  # computed once, lazily

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.counts):
            raise CorpusError(
                f"vocabulary has {len(self.tokens)} tokens but {len(self.counts)} counts"
            )
        index = {tok: i for i, tok in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise CorpusError("vocabulary tokens must be unique")
        if UNK not in index:
            raise CorpusError(f"vocabulary must contain {UNK!r}: build it with Vocab.build")
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_digest", [])

    @classmethod
    def build(
        cls,
        counts: Mapping[str, int],
        min_count: int = 1,
        max_size: int | None = None,
        specials: Iterable[str] = (UNK, EOS),
    ) -> Vocab:
        """Keep tokens seen at least `min_count` times, the `max_size` most frequent (specials
        included); the counts of dropped tokens go to `<unk>`."""
        if min_count < 1:
            raise CorpusError(f"min_count={min_count}: must be at least 1")
        specials = tuple(specials)
        if max_size is not None and max_size < len(specials) + 1:
            raise CorpusError(
                f"max_size={max_size}: must leave room for {specials} and at least one word"
            )
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        kept: dict[str, int] = {s: int(counts.get(s, 0)) for s in specials}
        dropped = 0
        for tok, n in ordered:
            if tok in kept:
                continue
            if n >= min_count and (max_size is None or len(kept) < max_size):
                kept[tok] = int(n)
            else:
                dropped += int(n)
        kept[UNK] = kept.get(UNK, 0) + dropped
        final = sorted(kept.items(), key=lambda kv: (-kv[1], kv[0]))
        vocab = cls(tuple(t for t, _ in final), tuple(n for _, n in final))
        if len(vocab) < 2:
            raise CorpusError(
                f"the vocabulary has {len(vocab)} word(s): LightRNN needs at least 2; "
                "use a larger corpus or a lower min_count"
            )
        return vocab

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def unk_id(self) -> int:
        return self._index[UNK]

    def id_of(self, token: str) -> int:
        return self._index.get(token, self._index[UNK])

    def encode(self, tokens: Iterable[str]) -> np.ndarray:
        """Token ids as int32; tokens outside the vocabulary map to `<unk>`."""
        index, unk = self._index, self._index[UNK]
        return np.fromiter((index.get(t, unk) for t in tokens), dtype=np.int32)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]

    def digest(self) -> str:
        """sha256 over tokens and counts: names every artifact made with this vocabulary."""
        if not self._digest:
            h = hashlib.sha256()
            for tok, n in zip(self.tokens, self.counts, strict=True):
                h.update(tok.encode("utf-8") + b"\t" + str(n).encode() + b"\n")
            self._digest.append(h.hexdigest())
        return self._digest[0]

    @classmethod
    def build_from_table(
        cls, table: pa.Table, min_count: int = 1, max_size: int | None = None
    ) -> Vocab:
        """`build` for a large (token, count) Arrow table (tokens may repeat): the same
        vocabulary, with the filtering and sorting done by Arrow instead of Python."""
        specials = (UNK, EOS)
        if min_count < 1:
            raise CorpusError(f"min_count={min_count}: must be at least 1")
        if max_size is not None and max_size < len(specials) + 1:
            raise CorpusError(
                f"max_size={max_size}: must leave room for {specials} and at least one word"
            )
        table = table.group_by("token").aggregate([("count", "sum")])
        table = pa.table(
            {"token": table.column("token"), "count": table.column("count_sum").cast(pa.int64())}
        )
        is_special = pc.is_in(table.column("token"), value_set=pa.array(specials, pa.string()))
        present = table.filter(is_special).to_pydict()
        found = dict(zip(present["token"], present["count"], strict=True))
        words = table.filter(pc.invert(is_special))
        kept = words.filter(pc.greater_equal(words.column("count"), min_count))
        # Python str order is code point order, which is UTF-8 byte order: Arrow's order
        kept = kept.sort_by([("count", "descending"), ("token", "ascending")])
        if max_size is not None:
            kept = kept.slice(0, max_size - len(specials))
        dropped = (pc.sum(words.column("count")).as_py() or 0) - (
            pc.sum(kept.column("count")).as_py() or 0
        )
        special_counts = {s: int(found.get(s, 0)) for s in specials}
        special_counts[UNK] += dropped
        final = pa.concat_tables(
            [
                kept,
                pa.table(
                    {
                        "token": pa.array(list(special_counts), pa.string()),
                        "count": pa.array(list(special_counts.values()), pa.int64()),
                    }
                ),
            ]
        ).sort_by([("count", "descending"), ("token", "ascending")])
        return cls(
            tuple(final.column("token").to_pylist()), tuple(final.column("count").to_pylist())
        )

    def to_arrow(self) -> pa.Table:
        """(token, count, id) in id order, the digest in the schema metadata."""
        schema = pa.schema(
            [("token", pa.string()), ("count", pa.int64()), ("id", pa.int32())],
            metadata={_META_FORMAT: VOCAB_FORMAT.encode(), _META_DIGEST: self.digest().encode()},
        )
        return pa.table(
            [
                pa.array(self.tokens, pa.string()),
                pa.array(self.counts, pa.int64()),
                pa.array(np.arange(len(self), dtype=np.int32)),
            ],
            schema=schema,
        )

    @classmethod
    def from_arrow(cls, table: pa.Table, where: str = "vocabulary table") -> Vocab:
        """Inverse of `to_arrow`; checks the ids and the stored digest."""
        meta = table.schema.metadata or {}
        if meta.get(_META_FORMAT) != VOCAB_FORMAT.encode() or not {"token", "count", "id"} <= set(
            table.column_names
        ):
            raise DataError(
                f"{where} is not a lightrnn vocabulary (format {VOCAB_FORMAT!r} with columns "
                "token, count, id): write it with Vocab.save"
            )
        ids = table.column("id").to_numpy()
        if not np.array_equal(ids, np.arange(len(ids))):
            raise DataError(f"{where}: ids are not 0..{len(ids) - 1} in order; the file is corrupt")
        vocab = cls(
            tuple(table.column("token").to_pylist()), tuple(table.column("count").to_pylist())
        )
        stored = meta.get(_META_DIGEST, b"").decode()
        if stored != vocab.digest():
            raise DataError(
                f"{where}: stored digest {stored[:12]}... does not match its contents "
                f"({vocab.digest()[:12]}...); the file is corrupt: prepare the corpus again"
            )
        return vocab

    def to_ipc(self) -> pa.Buffer:
        """The Arrow IPC file bytes that `save` writes."""
        table = self.to_arrow()
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue()

    def save(self, url: str) -> None:
        """Write the Arrow IPC file at a local path or fsspec URL (temp name, then rename)."""
        fs, path = fsspec.core.url_to_fs(url)
        parent = path.rsplit("/", 1)[0] if "/" in path else ""
        if parent:
            fs.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with fs.open(tmp, "wb") as f:
            f.write(self.to_ipc())
        fs.mv(tmp, path)

    @classmethod
    def load(cls, url: str) -> Vocab:
        """Read a vocabulary written by `save`."""
        fs, path = fsspec.core.url_to_fs(url)
        try:
            with fs.open(path, "rb") as f:
                table = pa.ipc.open_file(pa.py_buffer(f.read())).read_all()
        except FileNotFoundError:
            raise DataError(
                f"vocabulary file {url!r} does not exist: prepare the corpus first "
                "(lightrnn prepare CORPUS --store URL)"
            ) from None
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"vocabulary file {url!r} is not an Arrow IPC file ({exc}): "
                "write it with Vocab.save"
            ) from None
        return cls.from_arrow(table, where=f"vocabulary file {url!r}")
