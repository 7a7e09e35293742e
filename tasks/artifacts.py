"""The pipeline's objects in the store: tables, models, corpora, JSON (store <-> library).

The file layout of a model is the library's (`lightrnn.checkpoint`); this module only moves it
in and out of the store.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import storage
from lightrnn.checkpoint import TABLE, VOCAB, LoadedModel, load_model, save_model
from lightrnn.recurrent import RecurrentLM
from lightrnn.table import Table
from lightrnn.vocab import Vocab
from tasks.refs import CorpusInfo, Ref


def put_table(
    store: storage.Store, name: str, table: Table, meta: dict[str, Any], parents: Sequence[str]
) -> Ref:
    version = store.put_bytes(
        name, TABLE, table.to_bytes(), meta=meta, parents=[str(p) for p in parents], kind="table"
    )
    return Ref.of(version)


def get_table(store: storage.Store, ref: Ref) -> Table:
    data = store.read_bytes(ref.name, ref.version, TABLE)
    return Table.from_bytes(data, source=str(ref))


def put_model(
    store: storage.Store,
    name: str,
    model: RecurrentLM,
    vocab: Path | Vocab,
    tokenizer: dict[str, Any],
    meta: dict[str, Any],
    parents: Sequence[Ref | str],
    extra: dict[str, bytes] | None = None,
) -> Ref:
    """Commit a model directory (`lightrnn.checkpoint` layout), with `extra` files beside it."""
    with tempfile.TemporaryDirectory(prefix="lightrnn-model-") as tmp:
        save_model(model, Path(tmp), vocab, tokenizer)
        for filename, data in (extra or {}).items():
            (Path(tmp) / filename).write_bytes(data)
        version = store.put(name, tmp, meta=meta, parents=[str(p) for p in parents], kind="model")
    return Ref.of(version)


def get_model(store: storage.Store, ref: Ref | str) -> LoadedModel:
    """A stored model (on the CPU, eval mode), its vocabulary and tokenizer.
    `ref`: a Ref or 'NAME[@VERSION]'."""
    name, version = (ref.name, ref.version) if isinstance(ref, Ref) else split_ref(ref)
    return load_model(store.get(name, version), what=f"artifact '{name}'")


def split_ref(ref: str) -> tuple[str, str | int]:
    """'NAME@v3' or 'NAME@best' or 'NAME' -> (NAME, version or 'latest')."""
    name, _, version = ref.partition("@")
    return name, (version or "latest")


def corpus_dir(store: storage.Store, corpus: CorpusInfo) -> Path:
    return store.get(corpus.ref.name, corpus.ref.version)


def corpus_vocab(store: storage.Store, corpus: CorpusInfo) -> Vocab:
    return Vocab.load(str(corpus_dir(store, corpus) / VOCAB))


def to_json(obj: Any) -> bytes:
    return json.dumps(obj, indent=1, sort_keys=True, default=str).encode()


def put_stable(
    store: storage.Store, name: str, model_dir: Path, meta: dict[str, Any], parents: Sequence[str]
) -> Ref:
    """A stable table for warm starts: the table and the vocabulary it is indexed by."""
    with tempfile.TemporaryDirectory(prefix="lightrnn-stable-") as tmp:
        for f in (TABLE, VOCAB):
            (Path(tmp) / f).write_bytes((model_dir / f).read_bytes())
        return Ref.of(store.put(name, tmp, kind="table", meta=meta, parents=list(parents)))


def get_stable(store: storage.Store, ref: Ref) -> tuple[Table, Vocab]:
    """A table and its vocabulary, from a stable-table (or model) artifact."""
    root = store.get(ref.name, ref.version)
    return Table.load(root / TABLE), Vocab.load(str(root / VOCAB))
