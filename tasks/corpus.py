"""prepare-corpus: text files -> vocabulary + Arrow shards, versioned as `corpora/<digest>`."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from typing import Any

import fsspec
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from lightrnn.corpus import CorpusConfig, find_splits, prepare
from tasks.common import IO_RETRIES, Ref, digest, find, open_store


@dataclass(frozen=True)
class CorpusInfo:
    ref: Ref
    digest: str  # names everything made from this corpus
    vocab_size: int
    tokens: dict[str, int]  # split -> token count
    tokenizer: dict[str, Any]  # {"tokenizer": name, "lowercase": bool}: how to encode new text


def file_sha256(url: str) -> str:
    h = hashlib.sha256()
    with fsspec.open(url, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def resolve_splits(corpus: str, files: dict[str, str] | None = None) -> dict[str, str]:
    """Split -> URL: explicit files where given, else found in the corpus directory."""
    return dict(files) if files else find_splits(corpus)


# No Prefect input cache here: the same path may hold new text tomorrow. The store decides,
# by the content digest of the files.
@task(name="prepare-corpus", cache_policy=NO_CACHE, **IO_RETRIES)
def prepare_corpus_task(
    splits: dict[str, str], store_url: str, corpus_settings: dict[str, Any]
) -> CorpusInfo:
    """Tokenize the splits into the store, unless this exact content is already there."""
    logger = get_run_logger()
    config = CorpusConfig(**corpus_settings)
    sums = {split: file_sha256(url) for split, url in sorted(splits.items())}
    output_settings = config.output_settings()
    key = digest(sums, output_settings)
    name = f"corpora/{key}"
    store = open_store(store_url)
    existing = find(store, name)
    if existing is not None:
        meta = store.resolve(name, existing.version).meta
        logger.info("corpus already prepared: %s", existing)
        return CorpusInfo(
            existing,
            meta["digest"],
            meta["vocab_size"],
            dict(meta["tokens"]),
            _tokenizer(output_settings),
        )
    logger.info("preparing corpus %s", ", ".join(f"{s}={u}" for s, u in splits.items()))
    with tempfile.TemporaryDirectory(prefix="lightrnn-corpus-") as tmp:
        result = prepare(splits, tmp, config)
        tokens = {split: info.tokens for split, info in result.splits.items()}
        meta = {
            "digest": result.digest,
            "vocab_size": len(result.vocab),
            "tokens": tokens,
            "inputs": splits,
            "input_sha256": sums,
            "config": output_settings,
        }
        ref = Ref.of(store.put(name, tmp, meta=meta, kind="corpus"))
    logger.info(
        "corpus %s: %d words, %s",
        ref,
        len(result.vocab),
        ", ".join(f"{s} {n:,} tokens" for s, n in tokens.items()),
    )
    return CorpusInfo(ref, result.digest, len(result.vocab), tokens, _tokenizer(output_settings))


def _tokenizer(settings: dict[str, Any]) -> dict[str, Any]:
    return {"tokenizer": settings["tokenizer"], "lowercase": settings["lowercase"]}
