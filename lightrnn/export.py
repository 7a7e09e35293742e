"""A trained model as a self-contained directory any tool can read: no pickle, no store.

    config.json        {"format", "model": {"kind", "config"}, "tokenizer", "files": {sha256}}
    model.safetensors  the weights (safetensors: plain tensors, no code)
    vocab.arrow        the vocabulary (Arrow IPC: token, count, id)
    table.arrow        LightRNN only: word -> (row, col) as int32 columns, shape in the metadata

This is the one format of a trained model: a run's final model is stored this way, and
`lightrnn export` copies one out. `import_dir` checks every file's sha256 against config.json
before reading it, so a damaged or edited export fails loudly instead of scoring text with the
wrong weights. `read_model` also reads the training checkpoint layout (`lightrnn.checkpoint`):
a round's model, which keeps what the next round resumes from, and final models stored before
they were exports.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
from safetensors.torch import load_model, save_model

from lightrnn import checkpoint
from lightrnn.checkpoint import LoadedModel, build_model
from lightrnn.errors import CheckpointError
from lightrnn.model import LightRNN
from lightrnn.table import Table
from lightrnn.vocab import Vocab

FORMAT = "lightrnn-export/1"
CONFIG = "config.json"
WEIGHTS = "model.safetensors"
VOCAB = "vocab.arrow"
TABLE = "table.arrow"


def export_dir(loaded: LoadedModel, out: Path) -> Path:
    """Write `loaded` (model, vocabulary, tokenizer) into the new directory `out`."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"export directory '{out}' is not empty: pass a new directory")
    out.mkdir(parents=True, exist_ok=True)
    model = loaded.model
    save_model(model.cpu(), str(out / WEIGHTS))  # tied weights stored once, tied again on load
    loaded.vocab.save(str(out / VOCAB))
    shutil.copymode(out / VOCAB, out / WEIGHTS)  # safetensors writes 0600: readable as the rest
    if isinstance(model, LightRNN):
        (out / TABLE).write_bytes(_table_ipc(model.table))
    files = {p.name: _sha256(p) for p in sorted(out.iterdir())}
    config = {
        "format": FORMAT,
        "model": model.spec(),
        "tokenizer": loaded.tokenizer,
        "parameters": model.num_parameters(),
        "files": files,
    }
    (out / CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    return out


def is_export(path: Path) -> bool:
    return (Path(path) / CONFIG).is_file()


def read_model(path: Path, what: str = "") -> LoadedModel:
    """The model in directory `path`, in either layout; `what` names it in errors (a store
    ref...)."""
    path = Path(path)
    if is_export(path):
        return import_dir(path, what)
    if (path / checkpoint.WEIGHTS).is_file():
        return read_checkpoint_layout(path, what)
    raise CheckpointError(
        f"{what or repr(str(path))} is not a model (no {CONFIG}): pass a model artifact such as "
        "runs/<run>/final (see `lightrnn store ls`) or a directory from `lightrnn export`"
    )


def read_checkpoint_layout(path: Path, what: str = "") -> LoadedModel:
    """The legacy reader: a model in the training checkpoint layout (weights.pt, spec.json,
    table.npz, vocab.arrow, tokenizer.json), as `export_dir` takes it."""
    return checkpoint.load_model(Path(path), what)


def import_dir(path: Path, what: str = "") -> LoadedModel:
    """Read a directory written by `export_dir`, verifying every file first."""
    path = Path(path)
    what = what or f"'{path}'"
    try:
        config: dict[str, Any] = json.loads((path / CONFIG).read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(
            f"{what} has no readable {CONFIG}: pass a directory written by `lightrnn export`"
        ) from exc
    if config.get("format") != FORMAT:
        raise CheckpointError(
            f"'{path / CONFIG}' is format {config.get('format')!r}, this version reads {FORMAT!r}: "
            "export the model again with this version"
        )
    for name, digest in config["files"].items():
        if not (path / name).is_file() or _sha256(path / name) != digest:
            raise CheckpointError(
                f"'{path / name}' is missing or differs from what {CONFIG} records (sha256): the "
                "export is damaged; export the model again"
            )
    table = _table_from_ipc((path / TABLE).read_bytes()) if (path / TABLE).is_file() else None
    model = build_model(config["model"], table)
    missing, unexpected = load_model(model, str(path / WEIGHTS))
    if missing or unexpected:
        raise CheckpointError(
            f"'{path / WEIGHTS}' does not fit the model {CONFIG} describes (missing {missing}, "
            f"unexpected {unexpected}): export the model again"
        )
    return LoadedModel(model.eval(), Vocab.load(str(path / VOCAB)), dict(config["tokenizer"]))


def _table_ipc(table: Table) -> bytes:
    meta = {b"n_rows": str(table.n_rows).encode(), b"n_cols": str(table.n_cols).encode()}
    arrow = pa.table(
        {"row": pa.array(table.rows, pa.int32()), "col": pa.array(table.cols, pa.int32())}
    ).replace_schema_metadata(meta)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, arrow.schema) as writer:
        writer.write_table(arrow)
    return sink.getvalue().to_pybytes()


def _table_from_ipc(data: bytes) -> Table:
    arrow = pa.ipc.open_file(pa.py_buffer(data)).read_all()
    meta = arrow.schema.metadata or {}
    return Table(
        arrow.column("row").to_numpy().astype("int64"),
        arrow.column("col").to_numpy().astype("int64"),
        int(meta[b"n_rows"]),
        int(meta[b"n_cols"]),
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()
