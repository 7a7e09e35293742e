"""prepare-corpus: a corpus directory or files -> vocabulary + Arrow shards in the store."""

from __future__ import annotations

from prefect import flow

import storage
from flows.profiles import resolve
from tasks.corpus import CorpusInfo, prepare_corpus_task, resolve_splits


@flow(name="prepare-corpus", log_prints=True)
def prepare_corpus(
    corpus: str,
    store: str | None = None,
    tokenizer: str = "whitespace",
    lowercase: bool = False,
    min_count: int = 1,
    max_size: int | None = None,
    encoding_errors: str = "strict",
    splits: dict[str, str] | None = None,
) -> CorpusInfo:
    """Tokenize and version a corpus; a second run on the same content is a store hit."""
    settings = resolve(
        "demo",
        {
            "corpus.tokenizer": tokenizer,
            "corpus.lowercase": lowercase,
            "corpus.min_count": min_count,
            "corpus.max_size": max_size,
            "corpus.encoding_errors": encoding_errors,
        },
    )
    store_url = store or storage.default_store_url()
    storage.open_store(store_url)  # fail before any work when the store is unreachable
    return prepare_corpus_task(
        resolve_splits(corpus, splits), store_url, settings.to_dict()["corpus"]
    )
