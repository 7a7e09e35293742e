"""initial-table: the bootstrap's starting allocation, random or carried over from a stable one."""

from __future__ import annotations

from prefect import get_run_logger

from lightrnn.bootstrap import carry_over_table
from lightrnn.table import Table
from tasks import names
from tasks.artifacts import corpus_vocab, get_stable, put_table
from tasks.refs import CorpusInfo, Ref
from tasks.store_task import Output, store_task, the_ref


@store_task(
    "initial-table",
    output=lambda p: names.initial_table(
        p["corpus"].digest, p["seed"], p["warm_start"], p["shortlist"]
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
) -> Ref:
    """A seeded random table, or the warm-start table with each surviving word in its cell.
    With a shortlist of K words, the table holds the vocabulary's other words (ids K..)."""
    words = corpus_vocab(out.store, corpus).tokens[shortlist:]  # the table's words
    parents = [str(corpus.ref)]
    if warm_start is None:
        table = Table.random(len(words), seed=seed)
        meta = {"source": "random", "seed": seed}
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
