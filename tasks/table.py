"""initial-table: the bootstrap's starting allocation, random or carried over from a stable one."""

from __future__ import annotations

from prefect import get_run_logger, task

from lightrnn.bootstrap import carry_over_table
from lightrnn.table import Table
from lightrnn.vocab import Vocab
from tasks.artifacts import get_table, put_table
from tasks.common import IO_RETRIES, Ref, cached, digest, find, open_store
from tasks.corpus import CorpusInfo


def table_name(corpus: CorpusInfo, seed: int, warm_start: Ref | None) -> str:
    return f"tables/{digest(corpus.digest, seed, str(warm_start) if warm_start else None)}"


@task(
    name="initial-table",
    **IO_RETRIES,
    **cached(lambda p: table_name(p["corpus"], p["seed"], p.get("warm_start"))),
)
def initial_table_task(
    store_url: str, corpus: CorpusInfo, seed: int, warm_start: Ref | None = None
) -> Ref:
    """A seeded random table, or the warm-start table with each surviving word in its cell."""
    store = open_store(store_url)
    name = table_name(corpus, seed, warm_start)
    existing = find(store, name)
    if existing is not None:
        return existing
    vocab = Vocab.load(str(store.get(corpus.ref.name, corpus.ref.version) / "vocab.arrow"))
    parents = [str(corpus.ref)]
    if warm_start is None:
        table = Table.random(len(vocab), seed=seed)
        meta = {"source": "random", "seed": seed}
    else:
        old = get_table(store, warm_start)
        old_vocab = Vocab.load(str(store.get(warm_start.name, warm_start.version) / "vocab.arrow"))
        table = carry_over_table(old, old_vocab.tokens, vocab.tokens, seed=seed)
        kept = len(set(old_vocab.tokens) & set(vocab.tokens))
        meta = {"source": "warm_start", "from": str(warm_start), "seed": seed, "words_kept": kept}
        parents.append(str(warm_start))
        get_run_logger().info(
            "warm start from %s: %d of %d words keep their cell", warm_start, kept, len(vocab)
        )
    meta.update(n_rows=table.n_rows, n_cols=table.n_cols, table_digest=table.digest())
    return put_table(store, name, table, meta, parents)
