"""prepare-corpus: text files -> vocabulary + Arrow shards, versioned as `corpora/<digest>`.

Deployments can confine which corpora a worker reads: `LIGHTRNN_CORPUS_ROOTS` (the worker's
environment, comma-separated paths or URLs) and `pipeline.corpus_roots` (a run's settings) each
list the roots a corpus must lie under; where both are set, both apply.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

import storage
from lightrnn.corpus import CorpusConfig, find_splits, prepare
from lightrnn.corpus.inputs import shown
from lightrnn.errors import ConfigError
from tasks import names
from tasks.faults import reach
from tasks.refs import CorpusInfo, Ref
from tasks.store_task import RETRIES, find, open_store
from tasks.terminal import terminal_progress

ROOTS_ENV = "LIGHTRNN_CORPUS_ROOTS"
Log = logging.Logger | logging.LoggerAdapter
SECRETS_ENV = "LIGHTRNN_CORPUS_SECRETS"  # {concealed URL: URL}, this process and its children


def conceal(url: str) -> str:
    """`url` with its credentials replaced by ***; the credentials stay in this process's
    environment, so tasks can still open it while flow parameters, logs, manifests and the UI
    never show them."""
    concealed = shown(url)
    if concealed != url:
        secrets = json.loads(os.environ.get(SECRETS_ENV, "{}"))
        secrets[concealed] = url
        os.environ[SECRETS_ENV] = json.dumps(secrets)
    return concealed


def reveal(url: str) -> str:
    """The URL `conceal` hid, to open it (unchanged when nothing was hidden)."""
    return json.loads(os.environ.get(SECRETS_ENV, "{}")).get(url, url)


def file_sha256(url: str) -> str:
    h = hashlib.sha256()
    with fsspec.open(url, "rb") as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
    return h.hexdigest()


def resolve_splits(corpus: str, files: dict[str, str] | None = None) -> dict[str, str]:
    """Split -> concealed URL: explicit files where given, else found in the corpus directory."""
    found = {s: reveal(u) for s, u in files.items()} if files else find_splits(reveal(corpus))
    return {split: conceal(url) for split, url in found.items()}


def check_allowed(urls: Sequence[str], setting: Sequence[str] = ()) -> None:
    """Refuse a corpus outside the allowed roots (environment and settings), naming both."""
    for source, roots in ((f"${ROOTS_ENV}", _env_roots()), ("pipeline.corpus_roots", setting)):
        if not roots:
            continue
        for url in urls:
            if not any(_under(url, root) for root in roots):
                raise ConfigError(
                    f"corpus {shown(url)!r} is outside the corpus roots allowed by {source} "
                    f"({', '.join(shown(r) for r in roots)}): put the corpus under one of them, "
                    "or ask whoever runs the worker to allow its location"
                )


def _env_roots() -> list[str]:
    return [r.strip() for r in os.environ.get(ROOTS_ENV, "").split(",") if r.strip()]


def _normal(url: str) -> tuple[str, str]:
    """(scheme://host, path) with local paths made absolute and free of '..' and links."""
    parts = urlsplit(url)
    if parts.scheme in ("", "file"):
        return "file://", str(Path(parts.path if parts.scheme else url).resolve())
    return f"{parts.scheme}://{parts.hostname or ''}", os.path.normpath("/" + parts.path)


def _under(url: str, root: str) -> bool:
    (where, path), (root_where, root_path) = _normal(url), _normal(root)
    return where == root_where and (
        path == root_path or path.startswith(root_path.rstrip("/") + "/")
    )


# No Prefect input cache here: the same path may hold new text tomorrow. The store decides,
# by the content digest of the files.
@task(name="prepare-corpus", cache_policy=NO_CACHE, **RETRIES)
def prepare_corpus_task(
    splits: dict[str, str], store_url: str, config: CorpusConfig, roots: tuple[str, ...] = ()
) -> CorpusInfo:
    """Tokenize the splits into the store, unless this exact content is already there."""
    check_allowed([reveal(u) for u in splits.values()], roots)
    return prepare_into_store(splits, open_store(store_url), config, get_run_logger())


def prepare_into_store(
    splits: dict[str, str], store: storage.Store, config: CorpusConfig, log: Log
) -> CorpusInfo:
    """`corpora/<digest>` for these files and settings: found in the store, or prepared now."""
    sums = {split: file_sha256(reveal(url)) for split, url in sorted(splits.items())}
    settings = config.output_settings()
    name = names.corpus(sums, settings)
    existing = find(store, name)
    if existing is not None:
        log.info("corpus already prepared: %s", existing)
        return _info(existing, store.resolve(name, existing.version).meta)
    inputs = {split: shown(url) for split, url in splits.items()}
    log.info("preparing corpus %s", ", ".join(f"{s}={u}" for s, u in inputs.items()))
    with tempfile.TemporaryDirectory(prefix="lightrnn-corpus-") as tmp:
        with terminal_progress("preparing corpus", "bytes") as progress:
            result = prepare({s: reveal(u) for s, u in splits.items()}, tmp, config, progress)
        reach("prepare")
        meta = {
            "digest": result.digest,
            "vocab_size": len(result.vocab),
            "tokens": {split: info.tokens for split, info in result.splits.items()},
            "inputs": inputs,
            "input_sha256": sums,
            "config": settings,
        }
        ref = Ref.of(store.put(name, tmp, meta=meta, kind="corpus"))
    info = _info(ref, meta)
    tokens = ", ".join(f"{s} {n:,} tokens" for s, n in info.tokens.items())
    log.info("corpus %s: %d words, %s", ref, info.vocab_size, tokens)
    return info


def _info(ref: Ref, meta: dict) -> CorpusInfo:
    config = meta["config"]
    return CorpusInfo(
        ref,
        meta["digest"],
        meta["vocab_size"],
        dict(meta["tokens"]),
        {"tokenizer": config["tokenizer"], "lowercase": config["lowercase"]},
    )
