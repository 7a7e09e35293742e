"""The quality study's tables and plots: rows grouped over seeds (mean and spread), the targets,
perplexity against training seconds and against parameters (matplotlib PNGs)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.common import markdown_table, target, target_lines

KEY = ("corpus", "budget", "model", "variant")


def grouped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (corpus, budget, model, variant): the mean over seeds and the spread."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in KEY)].append(r)
    out = []
    for key, members in groups.items():
        tests = [m["test_ppl"] for m in members]
        out.append(
            {
                **dict(zip(KEY, key, strict=True)),
                "seeds": len(members),
                "params": members[0]["params"],
                "hidden": members[0].get("hidden"),
                "steps": statistics.mean(m["steps"] for m in members),
                "train_seconds": statistics.mean(m["train_seconds"] for m in members),
                "valid_ppl": statistics.mean(m["valid_ppl"] for m in members),
                "test_ppl": statistics.mean(tests),
                "test_spread": max(tests) - min(tests),
            }
        )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    table = [
        [
            g["corpus"],
            g["budget"],
            g["model"],
            g["variant"],
            str(g["seeds"]),
            f"{g['params'] / 1e6:.2f}M",
            str(g["hidden"]),
            f"{g['steps']:,.0f}",
            f"{g['train_seconds']:,.0f}",
            f"{g['valid_ppl']:.1f}",
            f"{g['test_ppl']:.1f}" + (f" ± {g['test_spread'] / 2:.1f}" if g["seeds"] > 1 else ""),
        ]
        for g in grouped(rows)
    ]
    headers = [
        "corpus",
        "budget",
        "model",
        "variant",
        "seeds",
        "params",
        "hidden",
        "steps",
        "train s",
        "valid ppl",
        "test ppl",
    ]
    return markdown_table(headers, table, "llllrrrrrrr")


GOALS = {
    "convergence": (1.10, "<= 1.10"),
    "time": (0.9999, "< 1.00"),
    "params": (0.9999, "< 1.00"),
}  # LightRNN / full softmax test perplexity


def targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The issue's targets where the rows measured them: LightRNN's test perplexity over the
    full softmax's at the same budget (`params-X`: against the full softmax's `X`), and the
    reallocation's gain over the random-table control at convergence."""
    by = {(g["corpus"], g["budget"], g["model"], g["variant"]): g for g in grouped(rows)}
    out: dict[str, dict[str, Any]] = {}
    for (corpus, budget, model, variant), g in by.items():
        kind = "params" if budget.startswith("params-") else budget.split("-")[0]
        full = by.get((corpus, budget.removeprefix("params-"), "full", "-"))
        if model == "lightrnn" and full is not None and kind in GOALS:
            ratio = g["test_ppl"] / full["test_ppl"]
            limit, goal = GOALS[kind]
            out[f"{corpus}, {budget}: lightrnn {variant} / full"] = target(
                round(ratio, 3), goal, ratio <= limit
            )
        control = by.get((corpus, budget, "lightrnn-random", variant))
        if model == "lightrnn" and control is not None and kind == "convergence":
            gain = 1 - g["test_ppl"] / control["test_ppl"]
            out[f"{corpus}, {budget}: reallocation gain, {variant}"] = target(
                round(gain, 3), ">= 0.05", gain >= 0.05
            )
    return out


def target_text(found: dict[str, dict[str, Any]]) -> str:
    return target_lines(found, lambda v: f"{v:.3f}") if found else "(no target measured)"


def plots(rows: list[dict[str, Any]], folder: Path, device: str) -> list[Path]:
    """Test perplexity against training seconds, and against parameters, per corpus."""
    made = []
    for axis, label, log_x in (
        ("train_seconds", "training seconds", False),
        ("params", "parameters", True),
    ):
        corpora = sorted({r["corpus"] for r in rows})
        fig, axes = plt.subplots(
            1, len(corpora), figsize=(6 * len(corpora), 4), dpi=110, squeeze=False
        )
        for ax, corpus in zip(axes[0], corpora, strict=True):
            for g in [g for g in grouped(rows) if g["corpus"] == corpus]:
                name = g["model"] + ("" if g["variant"] in ("-", "plain") else f" {g['variant']}")
                ax.scatter(g[axis], g["test_ppl"], s=30)
                ax.annotate(
                    f"{name} ({g['budget']})",
                    (g[axis], g["test_ppl"]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(4, 3),
                )
            ax.set_xscale("log" if log_x else "linear")
            ax.set_xlabel(label)
            ax.set_ylabel("test perplexity")
            ax.set_title(corpus)
        fig.tight_layout()
        path = folder / f"quality-{device}-{axis.replace('_', '-')}.png"
        fig.savefig(path)
        plt.close(fig)
        made.append(path)
    return made
