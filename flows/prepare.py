"""lightrnn-prepare: a corpus directory or files -> vocabulary + Arrow shards in the store."""

from __future__ import annotations

from prefect import flow

import storage
from flows.failures import one_line_failures
from flows.profiles import resolve
from tasks.corpus import prepare_corpus_task, resolve_splits
from tasks.refs import CorpusInfo


@flow(name="lightrnn-prepare", log_prints=True)
@one_line_failures
def lightrnn_prepare(
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
    found = resolve_splits(corpus, splits)
    return prepare_corpus_task(found, store_url, settings.corpus, settings.pipeline.corpus_roots)
