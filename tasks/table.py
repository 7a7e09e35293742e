"""initial-table: the bootstrap's starting allocation, random, from co-occurrence statistics,
or carried over from a stable one."""

from __future__ import annotations

from typing import Any

from prefect import get_run_logger

import storage
from lightrnn.bootstrap import carry_over_table
from lightrnn.corpus import open_split
from lightrnn.table import Table
from lightrnn.table_start import cooccurrence_table
from tasks import names
from tasks.artifacts import corpus_dir, corpus_vocab, get_stable, put_table
from tasks.refs import CorpusInfo, Ref
from tasks.store_task import Output, store_task, the_ref


@store_task(
    "initial-table",
    output=lambda p: names.initial_table(
        p["corpus"].digest, p["seed"], p["warm_start"], p["shortlist"], p["start"]
    ),
    found=the_ref,
)
def initial_table_task(
    out: Output,
    store_url: str,
    corpus: CorpusInfo,
    seed: int,
    warm_start: Ref | None = None,
    shortlist: int = 0,
    start: str = "random",
) -> Ref:
    """A fresh table (`start`: seeded random, or from co-occurrence statistics), or the
    warm-start table with each surviving word in its cell. With a shortlist of K words, the
    table holds the vocabulary's other words (ids K..)."""
    words = corpus_vocab(out.store, corpus).tokens[shortlist:]  # the table's words
    parents = [str(corpus.ref)]
    if warm_start is None:
        table, meta = fresh_table(out.store, corpus, seed, start, shortlist)
    else:
        old, old_vocab = get_stable(out.store, warm_start)
        old_words = old_vocab.tokens[len(old_vocab) - old.vocab_size :]
        table = carry_over_table(old, old_words, words, seed=seed)
        kept = len(set(old_words) & set(words))
        meta = {"source": "warm_start", "from": str(warm_start), "seed": seed, "words_kept": kept}
        parents.append(str(warm_start))
        get_run_logger().info(
            "warm start from %s: %d of %d words keep their cell", warm_start, kept, len(words)
        )
    meta.update(n_rows=table.n_rows, n_cols=table.n_cols, table_digest=table.digest())
    return put_table(out.store, out.name, table, meta, parents)


def fresh_table(
    store: storage.Store, corpus: CorpusInfo, seed: int, start: str, shortlist: int
) -> tuple[Table, dict[str, Any]]:
    """The first table of a run with no warm start, and what made it: `random` (seeded) or
    `cooc` (the training split's co-occurrence statistics; the seed plays no part)."""
    words = corpus.vocab_size - shortlist
    if start == "random":
        return Table.random(words, seed=seed), {"source": "random", "seed": seed}
    train = open_split(str(corpus_dir(store, corpus)), "train")
    table = cooccurrence_table(train[0 : len(train)], corpus.vocab_size, shortlist=shortlist)
    return table, {"source": "cooc", "train_tokens": len(train)}
