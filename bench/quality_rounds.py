"""What each round of a LightRNN bootstrap is worth in the quality study, and where the
pipeline's own stopping rule would have ended each run."""

from __future__ import annotations

import math
import re
from typing import Any

from bench.common import fmt, markdown_table
from lightrnn.bootstrap import RoundStats, check_convergence
from tasks.settings import PipelineConfig

LOOP = PipelineConfig()  # the pipeline's stopping rule as a user gets it (its defaults)


def rounds_table(rows: list[dict[str, Any]]) -> str:
    """What each round of a bootstrap of 3+ rounds is worth: per round its steps, validation
    perplexity (on the evaluation sample) at the round's end, the random-table control's at the
    last evaluation up to that step (from its curve: the row of the same corpus, budget, seed
    and variant less any `keepX`, else also less `rN`), the words the next reallocation moved, its
    objective gain, the perplexity right after it, and what the pipeline's stopping rule
    (`loop_decisions`) decides after that round. "" when no row has 3 rounds."""
    lines = []
    for r in rows:
        if r["model"] != "lightrnn" or len(r.get("rounds", [])) < 3:
            continue
        parts = r["variant"].split("+")  # the control never reallocates: a keep margin is moot
        same = "+".join(p for p in parts if not re.fullmatch(r"keep[\d.]+", p))
        base = "+".join(p for p in same.split("+") if not re.fullmatch(r"r\d+", p))
        controls = [
            c
            for c in rows
            if c["model"] == "lightrnn-random"
            and c["variant"] in (same, base or "plain")
            and all(c[k] == r[k] for k in ("corpus", "budget", "seed"))
        ]  # the same rounds first: its evaluations fall on the same steps
        control = min(controls, key=lambda c: c["variant"] != same, default=None)
        for k, decision in zip(r["rounds"], loop_decisions(r["rounds"]), strict=True):
            at = [c for c in (control or {}).get("curve", []) if c["step"] <= k["steps"]]
            lines.append(
                [
                    r["corpus"],
                    r["variant"],
                    str(r["seed"]),
                    str(k["round"]),
                    f"{k['steps']:,}",
                    fmt(k.get("valid_ppl"), ".1f"),
                    f"{at[-1]['valid_ppl']:.1f} @ {at[-1]['step']:,}" if at else "-",
                    fmt(k.get("moved"), ".1%"),
                    fmt(k.get("objective_gain"), ".1%"),
                    fmt(k.get("valid_after"), ".1f"),
                    decision,
                ]
            )
    headers = ["corpus", "variant", "seed", "round", "steps", "valid ppl"]
    headers += ["control (step)", "moved", "objective gain", "valid after move", "loop"]
    return markdown_table(headers, lines, "llrrrrrrrrl") if lines else ""


def loop_decisions(rounds: list[dict[str, Any]], loop: PipelineConfig = LOOP) -> list[str]:
    """After each round of a bench run, what the pipeline's check-convergence would decide with
    `loop`'s settings, its defaults unless given ("continue", "stable", "no_improvement",
    "small_gain", "max_rounds")."""
    stats = [
        RoundStats(
            k["round"], k.get("valid_ppl") or math.inf, k.get("moved"), k.get("objective_gain")
        )
        for k in rounds  # a round with no evaluation (no steps in its time) counts as no better
    ]
    return [
        check_convergence(
            stats[: i + 1],
            loop.max_rounds,
            loop.moved_threshold,
            loop.min_objective_gain,
            loop.min_valid_gain,
        ).reason
        for i in range(len(stats))
    ]


def first_stop(rounds: list[dict[str, Any]]) -> str:
    """Where the pipeline's loop would have stopped this run: "stable@2", or "continue@N" when
    the run ended (after N rounds) before the loop would."""
    decisions = loop_decisions(rounds)
    k = next((i for i, d in enumerate(decisions) if d != "continue"), len(decisions) - 1)
    return f"{decisions[k]}@{k + 1}"
