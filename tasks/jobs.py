"""A first round's job without a flow: a corpus prepared into a store and its first table
(`pipeline.start`). For benchmarks and tests that run the training launcher directly
(bench/scaling.py)."""

from __future__ import annotations

import logging

import storage
from lightrnn.corpus import CorpusConfig
from tasks import names
from tasks.artifacts import put_table
from tasks.corpus import prepare_into_store, resolve_splits
from tasks.refs import RoundJob
from tasks.settings import RunSettings
from tasks.table import fresh_table


def first_round(
    store_url: str, corpus: str, settings: RunSettings, run_key: str = "direct"
) -> RoundJob:
    """Round 1 of run `run_key` on `corpus` (a directory of train/valid/test files)."""
    store = storage.open_store(store_url)
    config = CorpusConfig(**{**settings.corpus.output_settings(), "workers": 1})
    info = prepare_into_store(resolve_splits(corpus), store, config, logging.getLogger(__name__))
    shortlist, pipeline = settings.model.shortlist, settings.pipeline
    table, meta = fresh_table(store, info, pipeline.seed, pipeline.start, shortlist)
    name = names.initial_table(info.digest, pipeline.seed, None, shortlist, pipeline.start)
    table_ref = put_table(store, name, table, meta, [str(info.ref)])
    return RoundJob(store_url, run_key, 1, info, table_ref, None, settings)
