"""One quality run: a model (LightRNN variant or baseline) trained under one budget on one corpus.

Budgets (`Budget.kind`):
    steps        the same number of training steps for every model
    paced        the same training seconds, deterministic: each model trains S / its step
                 seconds steps (rounded down to a multiple of 10 x rounds), its step time
                 measured alone first (bench/quality_pace.py)
    time         the same training seconds for every model, read off the clock as it trains
    convergence  until validation stops improving (lr decay, early stopping), capped in minutes
LightRNN trains in rounds like the pipeline: a new Trainer per round that carries the weights,
the optimizer and the lr schedule over; `lightrnn` reallocates between rounds, `lightrnn-random`
(the control) keeps its random table. The budget is split evenly over the rounds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from bench import common
from lightrnn.allocate import AllocateConfig, reallocate
from lightrnn.baselines import BaselineConfig, BaselineLM
from lightrnn.checkpoint import count_parameters
from lightrnn.costs import CostConfig, accumulate_costs
from lightrnn.evaluate import evaluate
from lightrnn.model import LightRNN, LightRNNConfig
from lightrnn.recurrent import RecurrentLM
from lightrnn.shortlist import shortlist_covering
from lightrnn.table import Table
from lightrnn.table_start import cooccurrence_table
from lightrnn.train import TrainConfig, Trainer
from lightrnn.train.carry import handover, take_over

MODELS = ("lightrnn", "lightrnn-random", "full", "adaptive")
KINDS = ("steps", "paced", "time", "convergence")


@dataclass(frozen=True)
class Budget:
    """What every model of a comparison gets: written `steps:2400`, `time:600` (seconds),
    `convergence:1800` (the cap in seconds), or `params:<one of those>` (LightRNN enlarged to the
    full softmax's parameter count, under that budget)."""

    kind: str  # "steps", "paced", "time" or "convergence"
    amount: float
    match_params: bool = False

    @classmethod
    def parse(cls, text: str) -> Budget:
        match = text.startswith("params:")
        kind, _, amount = text.removeprefix("params:").partition(":")
        if kind not in KINDS or not amount.replace(".", "").isdigit():
            raise SystemExit(
                f"budget {text!r}: write steps:N, paced:SECONDS, time:SECONDS, "
                "convergence:SECONDS or params:<one of those>"
            )
        return cls(kind, float(amount), match)

    @property
    def base(self) -> str:
        """The name without `params-`: the budget the full softmax ran under."""
        return f"{self.kind}-{self.amount:g}" + ("" if self.kind == "steps" else "s")

    @property
    def name(self) -> str:
        return ("params-" if self.match_params else "") + self.base


@dataclass(frozen=True)
class Variant:
    """A model's options, written like `tie+k2000+sparse+cost400000` ("plain": none). LightRNN:
    all but cA_B and dX (`keepX`: a word moves only to gain more than X of its cost); the full
    softmax: tie, hN, lrX; the adaptive softmax: cA_B (its cutoffs), dX (its div_value), hN, lrX.
    LightRNN's `covX` sizes the shortlist by token coverage (`resolved` sets K per corpus), `eN`
    sets the row and column vectors' size (untied), `dropX` the dropout (any model), `restart`
    starts each round after the first at the configured learning rate with a fresh plateau
    schedule (as the pipeline does after a converged round: lightrnn/train/carry.py)."""

    tie: bool = False
    shortlist: int = 0
    allocate: str = "auto"
    cost_tokens: int = 0  # 0 = all training tokens
    hidden: int = 0  # 0 = the run's size (the `params` budget sets it)
    rounds: int = 0  # 0 = the run's --rounds
    cutoffs: tuple[int, ...] = ()  # adaptive softmax; () = the library's default
    div: float = 0.0  # adaptive softmax's div_value; 0 = the library's default (4)
    lr: float = 0.0  # 0 = the run's --lr
    cooc: bool = False  # LightRNN starts from a co-occurrence table (lightrnn/table_start.py)
    keep: float = 0.0  # reallocation's keep margin (AllocateConfig.keep_margin); 0 = none
    coverage: float = 0.0  # shortlist: the fewest words carrying this share of training tokens
    embed: int = 0  # row and column vectors' size; 0 = the hidden size
    dropout: float = 0.0  # 0 = the run's --dropout
    restart: bool = False  # each round after the first starts its learning rate and schedule anew

    @classmethod
    def parse(cls, text: str) -> Variant:
        v = cls()
        for token in [t for t in text.split("+") if t and t != "plain"]:
            if token == "tie":
                v = replace(v, tie=True)
            elif token == "cooc":
                v = replace(v, cooc=True)
            elif token == "restart":
                v = replace(v, restart=True)
            elif m := re.fullmatch(r"k(\d+)", token):
                v = replace(v, shortlist=int(m[1]))
            elif token in ("exact", "sparse", "greedy"):
                v = replace(v, allocate=token)
            elif m := re.fullmatch(r"cov(0?\.\d+)", token):
                v = replace(v, coverage=float(m[1]))
            elif m := re.fullmatch(r"e(\d+)", token):
                v = replace(v, embed=int(m[1]))
            elif m := re.fullmatch(r"drop(0?\.\d+)", token):
                v = replace(v, dropout=float(m[1]))
            elif m := re.fullmatch(r"keep(0?\.\d+)", token):
                v = replace(v, keep=float(m[1]))
            elif m := re.fullmatch(r"cost(\d+)", token):
                v = replace(v, cost_tokens=int(m[1]))
            elif m := re.fullmatch(r"r(\d+)", token):
                v = replace(v, rounds=int(m[1]))
            elif m := re.fullmatch(r"h(\d+)", token):
                v = replace(v, hidden=int(m[1]))
            elif m := re.fullmatch(r"c(\d+(?:_\d+)*)", token):
                v = replace(v, cutoffs=tuple(int(c) for c in m[1].split("_")))
            elif m := re.fullmatch(r"d(\d+(?:\.\d+)?)", token):
                v = replace(v, div=float(m[1]))
            elif m := re.fullmatch(r"lr(\d+(?:\.\d+)?(?:e-?\d+)?)", token):
                v = replace(v, lr=float(m[1]))
            else:
                raise SystemExit(
                    f"unknown variant part {token!r}: tie, kN, exact|sparse|greedy, costN, hN, "
                    "rN, cooc, restart, keepX (a keep margin in [0, 1)), covX (shortlist by token "
                    "coverage), eN (vector size), dropX, cA_B (adaptive cutoffs), "
                    "dX (adaptive div_value), lrX"
                )
        return v

    def fits(self, model: str) -> bool:
        """Whether every option applies to `model` (a study skips the pairs that do not)."""
        lightrnn_only = (
            self.shortlist,
            self.allocate != "auto",
            self.cost_tokens,
            self.rounds,
            self.cooc,
            self.keep,
            self.coverage,
            self.embed,
            self.restart,
        )
        if model == "full":
            return not any(lightrnn_only) and not self.cutoffs and not self.div
        if model == "adaptive":
            return not any(lightrnn_only) and not self.tie
        return not self.cutoffs and not self.div


@dataclass(frozen=True)
class Size:
    hidden: int
    layers: int
    dropout: float
    batch: int
    bptt: int
    lr: float
    rounds: int
    eval_tokens: int
    eval_every: int
    device: str


def resolved(variant: Variant, train: Any, vocab: int) -> Variant:
    """`variant` with its shortlist size set from its coverage of `train`'s tokens (ids in
    vocabulary order, so the K most frequent words are ids 0..K-1)."""
    if not variant.coverage:
        return variant
    counts = np.bincount(np.asarray(train[0 : len(train)]), minlength=vocab)
    return replace(variant, shortlist=shortlist_covering(counts, variant.coverage))


def build(
    model: str,
    variant: Variant,
    vocab: int,
    size: Size,
    seed: int,
    train_ids: np.ndarray | None = None,
) -> RecurrentLM:
    """The model, seeded; `lightrnn` and `lightrnn-random` start identical: on a random table,
    or with `cooc` on the co-occurrence table of `train_ids`."""
    torch.manual_seed(seed)
    h = variant.hidden or size.hidden
    if model in ("full", "adaptive"):
        return BaselineLM(
            BaselineConfig(
                vocab,
                h,
                h,
                size.layers,
                variant.dropout or size.dropout,
                softmax=model,
                cutoffs=variant.cutoffs,
                div_value=variant.div or 4.0,
                tie=variant.tie,
            )
        )
    dropout = variant.dropout or size.dropout
    config = LightRNNConfig(
        vocab,
        variant.embed or h,
        h,
        size.layers,
        dropout,
        shortlist=variant.shortlist,
        tie=variant.tie,
    )
    if variant.cooc and train_ids is not None:
        table = cooccurrence_table(train_ids, vocab, shortlist=variant.shortlist)
    else:
        table = Table.random(config.table_words, seed=seed)
    return LightRNN(config, table)


def lightrnn_hidden_for(params: int, vocab: int, variant: Variant, size: Size) -> int:
    """The LightRNN hidden (= embedding) size whose parameter count is closest to `params`."""

    def count(h: int) -> int:
        config = LightRNNConfig(
            vocab, variant.embed or h, h, size.layers, shortlist=variant.shortlist, tie=variant.tie
        )
        return count_parameters({"kind": "lightrnn", "config": config.__dict__})

    lo, hi = 8, 8192
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(mid) < params else (lo, mid)
    return min((lo - 1, lo), key=lambda h: abs(count(h) - params))


def hidden_for(model: str, variant: Variant, budget: Budget, size: Size, vocab: int) -> int:
    """The model's hidden size: the variant's or the run's, or under a `params-` budget
    LightRNN's enlarged to the full softmax's parameter count."""
    if budget.match_params and model.startswith("lightrnn"):
        full = BaselineLM(BaselineConfig(vocab, size.hidden, size.hidden, size.layers))
        return lightrnn_hidden_for(full.num_parameters(), vocab, variant, size)
    return variant.hidden or size.hidden


CHUNK_STEPS = 10  # under a time budget, how often the clock is read


def train_config(
    budget: Budget, size: Size, seed: int, rounds: int, lr: float = 0.0, paced_steps: int = 0
) -> TrainConfig:
    """One round's training: a share of the steps (`paced_steps` under a paced budget); under
    `time` and `convergence` the seconds are set per round by `run`."""
    convergence = budget.kind == "convergence"
    total = paced_steps if budget.kind == "paced" else int(budget.amount)
    steps = total // rounds if budget.kind in ("steps", "paced") else 10_000_000
    every = max(100, min(1000, steps // 4)) if budget.kind == "steps" else size.eval_every
    return TrainConfig(
        batch_size=size.batch,
        bptt=size.bptt,
        optimizer="adam",
        lr=lr or size.lr,
        clip=0.25,
        max_steps=steps,
        eval_every=every,
        eval_tokens=size.eval_tokens,
        lr_decay=0.5,
        lr_patience=0,
        early_stop_patience=2 if convergence else 0,
        restore_best=convergence,
        seed=seed,
        device=size.device,
        progress_every=10_000,
    )


def run(
    corpus: dict[str, Any],
    model: str,
    variant: Variant,
    budget: Budget,
    size: Size,
    seed: int,
    paced_steps: int = 0,
) -> dict[str, Any]:
    """Train in rounds; evaluate on the whole validation and test splits; one result row with
    its validation curve (every evaluation: round, step, clock seconds, perplexity). Under a
    time budget the reallocations count against it: what is left is shared evenly by the
    remaining rounds; under a paced budget the model trains `paced_steps` steps."""
    train, valid, test, vocab = corpus["train"], corpus["valid"], corpus["test"], corpus["vocab"]
    hidden = hidden_for(model, variant, budget, size, vocab)
    ids = train[0 : len(train)] if variant.cooc else None
    net = build(model, replace(variant, hidden=hidden), vocab, size, seed, ids)
    skip = corpus.get("skip")  # a target id evaluation leaves out (quality.IN_VOCAB)

    def ppl(stream: Any, tokens: int | None = None) -> float:
        return evaluate(net, stream, 10, size.bptt, tokens, skip_id=skip).ppl

    rounds = (variant.rounds or size.rounds) if model.startswith("lightrnn") else 1
    base = train_config(budget, size, seed, rounds, variant.lr, paced_steps)
    clock = common.budget_clock(size.device)
    carried, steps, spent, train_s, history = None, 0, 0.0, 0.0, []
    curve: list[dict[str, Any]] = []
    for k in range(1, rounds + 1):
        share = (budget.amount - spent) / (rounds - k + 1)
        start_clock, start_steps, start_train = clock(), steps, train_s

        def evaluated(
            entry: dict,
            k: int = k,
            t0: float = start_clock,
            s0: int = start_steps,
            done: float = start_train,
        ) -> None:
            at = {"round": k, "step": s0 + entry["step"], "seconds": done + clock() - t0}
            curve.append(at | {"valid_ppl": entry["valid_ppl"]})

        trainer = Trainer(net, train, valid, base, evaluated=evaluated, valid_skip=skip)
        if carried is not None:  # optimizer, schedule (`restart`: the rate anew) and place go on
            take_over(trainer, carried, converged=variant.restart)
        lr_start = trainer.optimizer.param_groups[0]["lr"]
        before = clock()
        if budget.kind in ("steps", "paced"):
            trainer.run()
        else:  # in short pauses (bitwise the same as one run) until the share is used
            while not trainer.state.done and clock() - before < share:
                trainer.run(until_step=trainer.state.step + CHUNK_STEPS)
        used = clock() - before
        steps, train_s, spent = steps + trainer.state.step, train_s + used, spent + used
        carried = handover(trainer)
        entry: dict[str, Any] = {
            "round": k,
            "steps": steps,
            "valid_ppl": trainer.state.valid_ppl,
            "stop": trainer.state.stop_reason or "budget",
            "lr_start": lr_start,
            "lr_end": trainer.optimizer.param_groups[0]["lr"],
        }
        if model == "lightrnn" and k < rounds:
            start = clock()
            costs = accumulate_costs(
                net, train, CostConfig(batch_size=64, max_tokens=variant.cost_tokens)
            )
            config = AllocateConfig(variant.allocate, keep_margin=variant.keep)
            table, report = reallocate(costs.rows, costs.cols, net.table, config=config)
            net.set_table(table)
            spent += clock() - start
            entry.update(
                method=report.method,
                moved=report.moved_fraction,
                objective_gain=1 - report.objective_after / report.objective_before,
                realloc_seconds=clock() - start,
                valid_after=ppl(valid, size.eval_tokens or None),
            )
        history.append(entry)
    return {
        "model": model,
        "variant": variant_name(variant, baseline=model in ("full", "adaptive")),
        "seed": seed,
        "params": net.num_parameters(),
        "hidden": hidden,
        **({"shortlist": variant.shortlist} if model.startswith("lightrnn") else {}),
        "train_seconds": train_s,
        "realloc_seconds": spent - train_s,
        "steps": steps,
        "valid_ppl": ppl(valid),
        "test_ppl": ppl(test),
        **({"scored": "in-vocabulary"} if skip is not None else {}),
        "rounds": history,
        "curve": curve,
    }


def variant_name(v: Variant, baseline: bool = False) -> str:
    """The variant as `Variant.parse` reads it; a baseline's plain variant is "-"."""
    parts = ["tie"] if v.tie else []
    parts += [f"cov{v.coverage:g}"] if v.coverage else [f"k{v.shortlist}"] if v.shortlist else []
    parts += [v.allocate] if v.allocate != "auto" else []
    parts += [f"cost{v.cost_tokens}"] if v.cost_tokens else []
    parts += [f"keep{v.keep:g}"] if v.keep else []
    parts += [f"h{v.hidden}"] if v.hidden else []
    parts += [f"e{v.embed}"] if v.embed else []
    parts += [f"drop{v.dropout:g}"] if v.dropout else []
    parts += [f"r{v.rounds}"] if v.rounds else []
    parts += ["c" + "_".join(map(str, v.cutoffs))] if v.cutoffs else []
    parts += [f"d{v.div:g}"] if v.div else []
    parts += [f"lr{v.lr:g}"] if v.lr else []
    parts += ["cooc"] if v.cooc else []
    parts += ["restart"] if v.restart else []
    return "+".join(parts) or ("-" if baseline else "plain")
