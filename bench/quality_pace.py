"""Equal training time that is deterministic: each model's step time, measured alone, once.

Under `paced:SECONDS` every model trains SECONDS / its step seconds steps, rounded down to a
multiple of 10 x its rounds (at least that). The step
seconds come from a calibration before any training: the model built as the study builds it,
`WARMUP` untimed steps, then `TIMED` steps on the training data, on the budget's clock (the
process's CPU seconds with one thread on the CPU). Calibrations are kept in the results file
under `calibration`, keyed by what a step computes: LightRNN and its random-table control, every
seed and every learning rate share one, so two identical computations get the same steps, and
a study continued with --append reuses them. Reallocation (costs, solve) is outside the budget:
each row reports its seconds (`realloc_seconds`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bench.common import budget_clock, synchronize
from bench.quality_run import Size, Variant, build, variant_name
from lightrnn.train import TrainConfig, Trainer

WARMUP, TIMED = 5, 30
STEP_MULTIPLE = 10  # paced step counts are multiples of this (and of the rounds)


def step_key(
    corpus: str, model: str, variant: Variant, size: Size, threads: int, named_h: bool = False
) -> str:
    """What a training step computes: the family, the options that change the network, sizes.
    (`named_h`: the hidden size also in the variant's part, as keys were written at first.)"""
    family = "lightrnn" if model.startswith("lightrnn") else model
    h = variant.hidden or size.hidden  # in the key's size part only, however it was given
    shape = replace(
        variant,
        allocate="auto",
        cost_tokens=0,
        rounds=0,
        lr=0.0,
        cooc=False,
        keep=0.0,
        hidden=0,
        restart=False,
    )
    shape = replace(shape, hidden=variant.hidden) if named_h else shape
    name = variant_name(shape, baseline=family != "lightrnn")
    return (
        f"{corpus}/{family}/{name}/h{h}x{size.layers}/dropout{size.dropout:g}"
        f"/batch{size.batch}x{size.bptt}/threads{threads}/{size.device}"
    )


def known_key(
    calibration: dict[str, Any], corpus: str, model: str, variant: Variant, size: Size, threads: int
) -> str | None:
    """The key under which `calibration` already times this step, also as older studies wrote
    it (the device as given, `auto`, rather than as it resolved; the hidden size in the variant's
    name): one computation keeps one step count however its key was first written."""
    forms = [(d, named) for named in (False, True) for d in (size.device, "auto")]
    keys = [step_key(corpus, model, variant, replace(size, device=d), threads, n) for d, n in forms]
    return next((k for k in keys if k in calibration), None)


def timing_trainer(
    corpus: dict[str, Any], model: str, variant: Variant, size: Size, max_steps: int
) -> Trainer:
    """`model` as the study builds it (seed 0), with a trainer that times steps on the training
    data and never evaluates."""
    net = build(model, variant, corpus["vocab"], size, seed=0)
    config = TrainConfig(
        batch_size=size.batch,
        bptt=size.bptt,
        optimizer="adam",
        lr=size.lr,
        clip=0.25,
        max_steps=max_steps,
        eval_every=10 * max_steps,
        device=size.device,
        progress_every=10_000,
    )
    return Trainer(net, corpus["train"], None, config)


def measure(corpus: dict[str, Any], model: str, variant: Variant, size: Size) -> dict[str, Any]:
    """Seconds per training step of `model`, alone in this process (seed 0)."""
    trainer = timing_trainer(corpus, model, variant, size, WARMUP + TIMED)
    clock = budget_clock(size.device)
    trainer.run(until_step=WARMUP)
    synchronize(trainer.device)  # what the warm-up queued on a GPU is not timed
    start = clock()
    trainer.run(until_step=WARMUP + TIMED)
    synchronize(trainer.device)
    return {"step_seconds": (clock() - start) / TIMED, "timed_steps": TIMED, "warmup": WARMUP}


def paced_steps(seconds: float, step_seconds: float, rounds: int) -> int:
    """The steps `seconds` buys at `step_seconds` each: a multiple of 10 x rounds, at least one."""
    unit = STEP_MULTIPLE * rounds
    return max(unit, int(seconds / step_seconds) // unit * unit)
