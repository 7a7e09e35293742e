"""Quality on real text: LightRNN with bootstrap reallocation against full and adaptive softmax.

For each corpus (PTB and WikiText-2 from ../shared/data; WikiText-2 falls back to the copy
bundled in data/), the same LSTM size and the same budget of training steps for every model,
trained in `--rounds` rounds of steps / rounds steps:

    lightrnn         the bootstrap: after every round but the last, accumulate_costs over the
                     training text, assign (exact or sparse), set_table, and train on
    lightrnn-random  the control: the same rounds on the random table it started from
    full, adaptive   the baselines

Each model has one Trainer for all its rounds (optimizer state and data position carry over; a
round is a pause), so reallocation is the only difference between the first two. Reported:
validation and test perplexity after every round (and right after each reallocation, the spike),
parameters, training seconds (validation included, as in the pipeline), reallocation seconds.

    .venv/bin/python bench/quality.py                       # the GPU budget (bench/gpu_suite.sh)
    .venv/bin/python bench/quality.py --corpora ptb --device cpu --hidden 200 --layers 1 \\
        --dropout 0 --batch 32 --steps 1200 --rounds 3      # bench/results/quality-cpu.json
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

if not __package__:  # run as `python bench/quality.py`: import from the repository root
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import common
from bench.common import ROOT, fmt, markdown_table
from lightrnn.allocate import AllocateConfig, reallocate
from lightrnn.checkpoint import build_model
from lightrnn.corpus import CorpusConfig, find_splits, load_corpus, open_split, prepare
from lightrnn.costs import CostConfig, accumulate_costs
from lightrnn.evaluate import evaluate
from lightrnn.lm import RecurrentLM
from lightrnn.model import LightRNN
from lightrnn.table import Table
from lightrnn.train import TrainConfig, Trainer, TrainProgress, resolve_device

MODELS = ("lightrnn", "lightrnn-random", "full", "adaptive")
SHARED = ROOT.parent / "shared" / "data"
CORPORA = {  # name -> directories to try, first found wins
    "ptb": [SHARED / "ptb", ROOT / ".lightrnn" / "data" / "ptb"],
    "wikitext-2": [SHARED / "wikitext-2", ROOT / "data" / "wikitext-2"],
}
TARGET_VS_FULL = 0.05  # LightRNN's WikiText-2 test perplexity within 5% of the full softmax's


@dataclass(frozen=True)
class QualitySetting:
    """One budget and model size for every model and corpus of a run."""

    hidden: int = 650  # LSTM units per layer
    embed: int = 0  # input vector size; 0 = hidden
    layers: int = 2
    dropout: float = 0.5
    batch: int = 64
    bptt: int = 35
    steps: int = 6000  # training steps per model (the budget)
    rounds: int = 4  # LightRNN rounds (a reallocation after each but the last)
    optimizer: str = "adam"
    lr: float = 2e-3
    clip: float = 0.25
    lr_decay: float = 0.5  # after an evaluation (one per round) without improvement
    eval_tokens: int = 0  # validation ids read at each round's end; 0 = all
    cost_tokens: int = 0  # training ids read to accumulate the costs; 0 = all
    allocate: str = "auto"  # "auto", "exact", "sparse" or "greedy"
    seed: int = 0
    device: str = "auto"


def corpus_dir(name: str, data_root: str | None) -> Path | None:
    """Where the corpus's train/valid/test files are: --data-root/NAME, else the defaults."""
    candidates = [Path(data_root) / name] if data_root else CORPORA[name]
    return next((d for d in candidates if d.is_dir()), None)


def allocate_method(requested: str) -> str:
    """`auto` picks exact (lapx) when it fits; where lapx is missing, the sparse auction."""
    if requested in ("auto", "exact") and importlib.util.find_spec("lap") is None:
        return "sparse"
    return requested


def build(kind: str, vocab_size: int, s: QualitySetting) -> RecurrentLM:
    """`lightrnn` and `lightrnn-random` start as the same LightRNN, on the same random table."""
    torch.manual_seed(s.seed)
    name = "lightrnn" if kind.startswith("lightrnn") else kind
    sizes = {"embed": s.embed or s.hidden, "hidden": s.hidden, "layers": s.layers}
    spec = common.model_spec(name, vocab_size, **sizes, dropout=s.dropout)
    return build_model(spec, Table.random(vocab_size, seed=s.seed) if name == "lightrnn" else None)


def train_model(kind: str, corpus: str, root: str, s: QualitySetting) -> dict[str, Any]:
    """Train one model for the budget, in rounds; reallocate between rounds for `lightrnn`."""
    train, valid, test = (open_split(root, split) for split in ("train", "valid", "test"))
    model = build(kind, len(load_corpus(root).vocab), s)
    per_round = s.steps // s.rounds
    config = TrainConfig(
        batch_size=s.batch,
        bptt=s.bptt,
        optimizer=s.optimizer,
        lr=s.lr,
        clip=s.clip,
        max_steps=per_round * s.rounds,
        eval_every=per_round,
        eval_tokens=s.eval_tokens,
        lr_decay=s.lr_decay,
        lr_patience=0,
        early_stop_patience=0,  # a fixed budget: no early stop, end on the last parameters
        restore_best=False,
        seed=s.seed,
        device=s.device,
        progress_every=max(1, per_round // 4),
    )
    label = f"{corpus} {kind}"

    def progress(p: TrainProgress) -> None:
        print(
            f"{label}: step {p.step}/{p.max_steps} train ppl {p.ppl:.1f} valid "
            f"{fmt(p.valid_ppl, '.1f')} {p.tokens_per_s:,.0f} tok/s {p.elapsed_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    trainer = Trainer(model, train, valid, config, progress=progress)
    out: dict[str, Any] = {"parameters": model.num_parameters(), "rounds": []}
    if isinstance(model, LightRNN):
        out["table"] = [model.config.n_rows, model.config.n_cols]
    train_s = realloc_s = test_s = 0.0
    tokens = 0
    for k in range(1, s.rounds + 1):
        result = trainer.run(until_step=k * per_round)
        train_s += result.seconds
        tokens += result.tokens_per_s * result.seconds
        elapsed = common.stopwatch()
        test_ppl = evaluate(model, test, 10, s.bptt).ppl
        test_s += elapsed()
        row: dict[str, Any] = {
            "round": k,
            "step": trainer.step,
            "valid_ppl": trainer.valid_ppl,
            "test_ppl": test_ppl,
            "lr": trainer.lr,
            "train_seconds": train_s,
        }
        if kind == "lightrnn" and k < s.rounds:
            assert isinstance(model, LightRNN)
            row.update(reallocate_table(model, train, valid, s))
            realloc_s += row["realloc_seconds"]
            trainer.hidden = None  # the carried state was read with the old table
        out["rounds"].append(row)
        print(f"{label}: round {k} {row}", file=sys.stderr, flush=True)
    last = out["rounds"][-1]
    out.update(
        valid_ppl=last["valid_ppl"],
        test_ppl=last["test_ppl"],
        train_seconds=train_s,
        tokens_per_s=tokens / max(train_s, 1e-9),
        realloc_seconds=realloc_s,
        test_eval_seconds=test_s,
    )
    return out


def reallocate_table(model: LightRNN, train, valid, s: QualitySetting) -> dict[str, Any]:
    """Costs over the training text, the new table, and the validation ppl right after it."""
    elapsed = common.stopwatch()
    costs = accumulate_costs(
        model, train, CostConfig(batch_size=64, bptt=s.bptt, max_tokens=s.cost_tokens)
    )
    method = allocate_method(s.allocate)
    table, report = reallocate(costs.rows, costs.cols, model.table, config=AllocateConfig(method))
    model.set_table(table)
    seconds = elapsed()
    spike = evaluate(model, valid, 10, s.bptt, max_tokens=s.eval_tokens or None).ppl
    return {
        "cost_tokens": costs.tokens,
        "cost_seconds": costs.seconds,
        "allocate": f"{report.method} ({report.solver})",
        "words_moved": report.words_moved,
        "moved_fraction": report.moved_fraction,
        "objective_before": report.objective_before,
        "objective_after": report.objective_after,
        "valid_ppl_after_realloc": spike,
        "realloc_seconds": seconds,
    }


def tokenize(name: str, source: Path, work: Path) -> tuple[str, dict[str, Any]]:
    """Tokenize the corpus into work/NAME (whitespace + <eos> per line, every word kept)."""
    root = str(work / name)
    prepared = prepare(find_splits(str(source)), root, CorpusConfig(workers=1))
    info = {
        "source": str(source),
        "vocab_size": len(prepared.vocab),
        "tokens": {split: info.tokens for split, info in prepared.splits.items()},
    }
    return root, info


def summarise(corpora: dict[str, dict]) -> dict[str, dict]:
    """The issue's two quality targets, on what ran (None where a model or corpus is missing)."""
    wt2 = corpora.get("wikitext-2", {}).get("models", {})
    light, full = wt2.get("lightrnn"), wt2.get("full")
    gap = None if not (light and full) else light["test_ppl"] / full["test_ppl"] - 1.0
    better = {}
    for name, c in corpora.items():
        m = c.get("models", {})
        if "lightrnn" in m and "lightrnn-random" in m:
            better[name] = m["lightrnn"]["test_ppl"] / m["lightrnn-random"]["test_ppl"] - 1.0
    return {
        "lightrnn vs full, WikiText-2 test ppl": common.target(
            gap, f"<= +{TARGET_VS_FULL:.0%}", None if gap is None else gap <= TARGET_VS_FULL
        ),
        "reallocation vs random table, test ppl": common.target(
            better or None,
            "< 0 on every corpus",
            None if not better else all(v < 0 for v in better.values()),
        ),
    }


def markdown(corpora: dict[str, dict], targets: dict[str, dict]) -> str:
    rows, rounds = [], []
    for name, c in corpora.items():
        if "skipped" in c:
            rows.append([name, "-", "-", "-", f"skipped: {c['skipped']}", "-", "-"])
            continue
        for kind, m in c["models"].items():
            rows.append(
                [
                    name,
                    kind,
                    f"{m['parameters'] / 1e6:.2f}M",
                    f"{m['valid_ppl']:.1f}",
                    f"{m['test_ppl']:.1f}",
                    f"{m['train_seconds']:.0f}"
                    + (f" + {m['realloc_seconds']:.0f}" if m["realloc_seconds"] else ""),
                    f"{m['tokens_per_s']:,.0f}",
                ]
            )
        boot = c["models"].get("lightrnn", {}).get("rounds", [])
        control = c["models"].get("lightrnn-random", {}).get("rounds", [])
        for i, r in enumerate(boot):
            ctrl = control[i] if i < len(control) else {}
            moved = r.get("moved_fraction")
            rounds.append(
                [
                    name,
                    str(r["round"]),
                    f"{r['step']:,}",
                    f"{r['valid_ppl']:.1f}",
                    f"{r['test_ppl']:.1f}",
                    fmt(ctrl.get("valid_ppl"), ".1f"),
                    fmt(ctrl.get("test_ppl"), ".1f"),
                    "-" if moved is None else f"{100 * moved:.1f}%",
                    fmt(r.get("valid_ppl_after_realloc"), ".0f"),
                    fmt(r.get("realloc_seconds"), ".1f"),
                ]
            )
    models = markdown_table(
        ["corpus", "model", "params", "valid ppl", "test ppl", "train s (+ realloc)", "tokens/s"],
        rows,
        "llrrrrr",
    )
    table = markdown_table(
        [
            "corpus",
            "round",
            "steps",
            "LightRNN valid",
            "LightRNN test",
            "random-table valid",
            "random-table test",
            "words moved after",
            "valid ppl right after",
            "realloc s",
        ],
        rounds,
        "lrrrrrrrrr",
    )

    def show(v: Any) -> str:
        if isinstance(v, dict):
            return ", ".join(f"{k} {x:+.1%}" for k, x in v.items())
        return fmt(v, "+.1%")

    return f"{models}\n\n{table}\n\n{common.target_lines(targets, show)}"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    d = QualitySetting()
    p.add_argument("--corpora", default="ptb,wikitext-2", help=f"any of {','.join(CORPORA)}")
    p.add_argument("--models", default=",".join(MODELS), help=f"any of {','.join(MODELS)}")
    p.add_argument("--data-root", default=None, help="a folder holding ptb/ and wikitext-2/")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--embed", type=int, default=d.embed, help="0: the hidden size")
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--batch", type=int, default=d.batch)
    p.add_argument("--bptt", type=int, default=d.bptt)
    p.add_argument("--steps", type=int, default=d.steps, help="training steps per model")
    p.add_argument("--rounds", type=int, default=d.rounds)
    p.add_argument("--optimizer", default=d.optimizer, choices=["sgd", "adam"])
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--lr-decay", type=float, default=d.lr_decay)
    p.add_argument("--eval-tokens", type=int, default=d.eval_tokens, help="0: all of valid")
    p.add_argument("--cost-tokens", type=int, default=d.cost_tokens, help="0: all of train")
    p.add_argument("--allocate", default=d.allocate, choices=["auto", "exact", "sparse", "greedy"])
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--work-dir", default=None, help="where the tokenized corpora go (temp)")
    p.add_argument("--out", default="", help="default bench/results/quality-<device>.json")
    args = p.parse_args(argv)
    if args.rounds < 1 or args.steps < args.rounds:
        p.error(f"--steps {args.steps} must be at least --rounds {args.rounds} (>= 1)")
    models = common.names(p, args.models, MODELS, "models")
    names = common.names(p, args.corpora, list(CORPORA), "corpora")
    if args.threads:
        torch.set_num_threads(args.threads)
    s = common.from_args(QualitySetting, args)
    device = resolve_device(args.device)
    out = args.out or str(ROOT / f"bench/results/quality-{device.type}.json")
    corpora: dict[str, dict] = {}

    def result(done: bool) -> dict[str, Any]:
        """The JSON of the corpora and models so far."""
        targets = summarise(corpora)
        return {
            "command": common.command_line("quality.py", argv),
            "env": common.environment(device),
            "setting": asdict(s),
            "allocate_method": allocate_method(s.allocate),
            "steps_per_round": s.steps // s.rounds,
            "complete": done,
            "corpora": corpora,
            "targets": targets,
            "markdown": markdown(corpora, targets),
        }

    results = common.ResultFile(out, result)

    with tempfile.TemporaryDirectory(prefix="lightrnn-quality-", dir=args.work_dir) as work:
        for name in names:
            source = corpus_dir(name, args.data_root)
            if source is None:
                corpora[name] = {"skipped": f"no {name} corpus found (pass --data-root)"}
                continue
            root, info = tokenize(name, source, Path(work))
            corpora[name] = {**info, "models": {}}
            for kind in models:
                corpora[name]["models"][kind] = train_model(kind, name, root, s)
                results.save()  # after every model
    return results.finish()


if __name__ == "__main__":
    main()
