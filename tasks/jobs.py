"""A first round's job without a flow: a corpus prepared into a store and a seeded random
table. For benchmarks and tests that run the training launcher directly (bench/scaling.py)."""

from __future__ import annotations

import logging

import storage
from lightrnn.corpus import CorpusConfig
from lightrnn.table import Table
from tasks import names
from tasks.artifacts import put_table
from tasks.corpus import prepare_into_store, resolve_splits
from tasks.refs import RoundJob
from tasks.settings import RunSettings


def first_round(
    store_url: str, corpus: str, settings: RunSettings, run_key: str = "direct"
) -> RoundJob:
    """Round 1 of run `run_key` on `corpus` (a directory of train/valid/test files)."""
    store = storage.open_store(store_url)
    config = CorpusConfig(**{**settings.corpus.output_settings(), "workers": 1})
    info = prepare_into_store(resolve_splits(corpus), store, config, logging.getLogger(__name__))
    shortlist = settings.model.shortlist
    table = Table.random(info.vocab_size - shortlist, seed=settings.pipeline.seed)
    name = names.initial_table(info.digest, settings.pipeline.seed, None, shortlist)
    table_ref = put_table(store, name, table, {"source": "random"}, [str(info.ref)])
    return RoundJob(store_url, run_key, 1, info, table_ref, None, settings)
