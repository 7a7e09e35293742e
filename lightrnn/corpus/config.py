"""How text becomes ids: the settings of corpus preparation (`CorpusConfig`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from lightrnn.corpus.tokenize import TOKENIZERS
from lightrnn.errors import ConfigError
from lightrnn.validation import check_fields
from lightrnn.vocab import EOS, UNK


@dataclass(frozen=True)
class CorpusConfig:
    """How to turn text into ids. Every field but `workers`, `block_bytes` and `tmp_dir`
    changes the output; those three only change speed and scratch space."""

    tokenizer: str = "whitespace"  # a name in lightrnn.corpus.tokenize.TOKENIZERS
    lowercase: bool = False  # lowercase the text before splitting it
    min_count: int = 1  # training words seen fewer times become <unk>
    max_size: int | None = None  # most vocabulary entries, <unk> and <eos> included
    shard_tokens: int = 1 << 22  # ids per shard file (16 MiB of int32)
    workers: int | None = None  # tokenizing processes; None = the cores this process may use
    encoding_errors: Literal["strict", "replace"] = "strict"  # replace: bad bytes -> U+FFFD
    block_bytes: int = 8 << 20  # text per unit of work, cut at a line end
    tmp_dir: str | None = None  # local scratch for ids between the passes (None: system temp)

    def __post_init__(self) -> None:
        check_fields(self, "corpus.")
        if self.tokenizer not in TOKENIZERS:
            raise ConfigError(
                f"tokenizer={self.tokenizer!r}: choose one of {', '.join(sorted(TOKENIZERS))}"
            )
        if self.encoding_errors not in ("strict", "replace"):
            raise ConfigError(
                f"encoding_errors={self.encoding_errors!r}: choose 'strict' (stop at the first "
                "byte that is not UTF-8) or 'replace' (replace it with U+FFFD)"
            )
        if self.min_count < 1:
            raise ConfigError(f"min_count={self.min_count}: must be at least 1")
        if self.max_size is not None and self.max_size < 4:
            raise ConfigError(
                f"max_size={self.max_size}: the vocabulary needs {UNK}, {EOS} and at least 2 "
                "words, so max_size must be at least 4 (or None for no limit)"
            )
        if not 1 <= self.shard_tokens <= 1 << 28:
            raise ConfigError(f"shard_tokens={self.shard_tokens}: must be in [1, 2**28]")
        if self.workers is not None and self.workers < 1:
            raise ConfigError(f"workers={self.workers}: must be at least 1 (or None for all)")
        if not 1 <= self.block_bytes <= 1 << 30:
            raise ConfigError(f"block_bytes={self.block_bytes}: must be in [1, 2**30]")

    def output_settings(self) -> dict:
        """The fields that decide the output (recorded in the manifest)."""
        ignored = ("workers", "block_bytes", "tmp_dir")
        return {k: v for k, v in asdict(self).items() if k not in ignored}
