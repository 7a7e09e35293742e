"""Every artifact name the pipeline uses, in one place: what each is made from.

    corpora/<digest>                        vocabulary + shards: input files' sha256 + settings
    tables/<digest>                         an initial table: corpus, seed, warm-start table
    runs/<run>/round-<k>/checkpoint         training states of round k (a version every N steps)
    runs/<run>/round-<k>/model              round k's model
    runs/<run>/round-<k>/model-v<N>/...     made from model version N: eval/<split>, costs,
                                            table-next (keyed on the exact model version)
    runs/<run>/final, runs/<run>/report     the best round's model; the report and its plot
    runs/<run>                              the run's lease (held while a process trains it)

`<run>` digests the corpus, every setting that changes results, the seed, the initial table
and the package version, so a release recomputes instead of reusing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from tasks.refs import Ref


def digest(*parts: Any) -> str:
    """A short, stable name for a combination of inputs (JSON-able parts)."""
    payload = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def corpus(input_sha256: dict[str, str], settings: dict[str, Any]) -> str:
    return f"corpora/{digest(input_sha256, settings)}"


def initial_table(
    corpus_digest: str,
    seed: int,
    warm_start: Ref | None,
    shortlist: int = 0,
    start: str = "random",
) -> str:
    """A starting table's name; a random start keeps the names it had before `start` existed,
    and a co-occurrence start leaves the seed out (it plays no part: every seed shares one)."""
    warm = str(warm_start) if warm_start else None
    fresh_cooc = start != "random" and warm_start is None
    parts = (corpus_digest, None if fresh_cooc else seed, warm)
    parts += ((shortlist,) if shortlist else ()) + ((start,) if fresh_cooc else ())
    return f"tables/{digest(*parts)}"


def run_key(corpus_digest: str, results: dict[str, Any], table: Ref, code_version: str) -> str:
    return digest(corpus_digest, results, str(table), code_version)


def run(run_key: str) -> str:
    return f"runs/{run_key}"


def checkpoint(run_key: str, round_index: int) -> str:
    return f"runs/{run_key}/round-{round_index}/checkpoint"


def round_model(run_key: str, round_index: int) -> str:
    return f"runs/{run_key}/round-{round_index}/model"


def _from_model(model: Ref, what: str) -> str:
    return f"{model.name}-v{model.version}/{what}"


def evaluation(model: Ref, split: str) -> str:
    return _from_model(model, f"eval/{split}")


def costs(model: Ref) -> str:
    return _from_model(model, "costs")


def next_table(model: Ref) -> str:
    return _from_model(model, "table-next")


def final(run_key: str) -> str:
    return f"runs/{run_key}/final"


def report(run_key: str) -> str:
    return f"runs/{run_key}/report"
