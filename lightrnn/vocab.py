"""The vocabulary: token <-> id, with counts, in a deterministic order.

Order is count descending, then token (byte order), so the same counts always give the same ids.
`<unk>` stands for every token outside the vocabulary; `<eos>` ends every line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from lightrnn.errors import CorpusError

UNK = "<unk>"
EOS = "<eos>"


@dataclass(frozen=True)
class Vocab:
    """Tokens in id order with their training counts."""

    tokens: tuple[str, ...]
    counts: tuple[int, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

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
        h = hashlib.sha256()
        for tok, n in zip(self.tokens, self.counts, strict=True):
            h.update(tok.encode("utf-8") + b"\t" + str(n).encode() + b"\n")
        return h.hexdigest()
