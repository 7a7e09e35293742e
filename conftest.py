"""What the Python blocks of README.md and docs/ run against (pytest --markdown-docs, in addopts).

At the repository root so that `pytest README.md` and `pytest docs` find it too (tests/conftest.py
loads only for the tests/ folder). The blocks read the model's name and store from
LIGHTRNN_MODEL and LIGHTRNN_STORE, as a reader does after `lightrnn run` (its "final model" line
and its --store URL); here they name a tiny model trained once per session with the library
(seconds, no Prefect) on the first lines of the bundled WikiText-2, committed as the pipeline
commits a run's final model (an export) under `runs/docs-example/final` of an in-process store
(memory://).
"""

from __future__ import annotations

import lzma
import os
import tempfile
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "wikitext-2"
MODEL = "runs/docs-example/final"
STORE = "memory://lightrnn-docs-example"


@cache
def example_model() -> str:
    """Train and commit the example model once; returns its store URL."""
    import torch

    import lightrnn
    import storage
    from lightrnn.checkpoint import LoadedModel
    from lightrnn.corpus.prepare import prepare
    from lightrnn.export import export_dir
    from lightrnn.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="lightrnn-docs-"))
    splits = {}
    for split, lines in (("train", 400), ("valid", 60), ("test", 60)):
        with lzma.open(DATA / f"{split}.txt.xz", "rt", encoding="utf-8") as f:
            splits[split] = root / f"{split}.txt"
            splits[split].write_text("".join(next(f) for _ in range(lines)), encoding="utf-8")
    corpus = prepare({s: str(p) for s, p in splits.items()}, str(root / "corpus"))
    config = lightrnn.LightRNNConfig(
        vocab_size=len(corpus.vocab), embed_dim=32, hidden_dim=32, num_layers=1
    )
    model = lightrnn.LightRNN(config, lightrnn.Table.random(len(corpus.vocab), seed=0))
    train = TrainConfig(optimizer="adam", lr=0.01, batch_size=16, bptt=20, max_steps=40)
    Trainer(model, corpus.stream("train"), corpus.stream("valid"), train).run()
    tokenizer = {"tokenizer": "whitespace", "lowercase": False}
    export_dir(LoadedModel(model.eval(), corpus.vocab, tokenizer), root / "model")
    storage.open_store(STORE).put(MODEL, str(root / "model"), kind="model")
    return STORE


def pytest_markdown_docs_globals() -> dict:
    """Before each block: LIGHTRNN_MODEL and LIGHTRNN_STORE name the example model."""
    os.environ["LIGHTRNN_STORE"] = example_model()
    os.environ["LIGHTRNN_MODEL"] = MODEL
    return {}
