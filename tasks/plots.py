"""The run's pictures: per round (the report), and a round's learning curves (its progress)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt

ROUNDS_PLOT = "rounds.png"


def rounds_plot(rows: list[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Validation perplexity per round (left axis) and % of words moved after it (bars)."""
    rounds = [r["round"] for r in rows]
    fig, ppl_axis = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    moved_axis = ppl_axis.twinx()
    moved = [r.get("moved_pct") for r in rows]
    moved_axis.bar(
        [k for k, m in zip(rounds, moved, strict=True) if m is not None],
        [m for m in moved if m is not None],
        width=0.4,
        color="#c9d6e8",
        label="words moved after the round (%)",
    )
    moved_axis.set_ylabel("words moved (%)")
    moved_axis.set_ylim(0, 100)
    ppl_axis.set_zorder(moved_axis.get_zorder() + 1)
    ppl_axis.patch.set_visible(False)
    ppl_axis.plot(rounds, [r["valid_ppl"] for r in rows], "o-", color="#1f4e9c", label="valid ppl")
    for k, r in zip(rounds, rows, strict=True):
        ppl_axis.annotate(
            f"{r['valid_ppl']:.1f}",
            (k, r["valid_ppl"]),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    ppl_axis.set_xlabel("round")
    ppl_axis.set_ylabel("validation perplexity")
    ppl_axis.set_xticks(rounds)
    ppl_axis.set_title(title or "LightRNN bootstrap rounds", fontsize=10)
    lines = ppl_axis.get_legend_handles_labels()
    bars = moved_axis.get_legend_handles_labels()
    ppl_axis.legend(lines[0] + bars[0], lines[1] + bars[1], fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def curves_png(
    train: list[tuple[int, float]], valid: list[tuple[int, float]], title: str = ""
) -> bytes:
    """Training loss (left axis) and validation perplexity (right axis) against steps: the
    picture of the progress artifact, small enough to send at each evaluation."""
    fig, loss_axis = plt.subplots(figsize=(5.6, 2.8), dpi=80)
    if train:
        loss_axis.plot(*zip(*train, strict=True), color="#7a8ca8", lw=1, label="train loss")
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("train loss (nats)")
    ppl_axis = loss_axis.twinx()
    if valid:
        ppl_axis.plot(*zip(*valid, strict=True), "o-", color="#1f4e9c", label="valid ppl")
    ppl_axis.set_ylabel("valid perplexity")
    loss_axis.set_title(title or "learning curves", fontsize=9)
    handles = [h for axis in (loss_axis, ppl_axis) for h in axis.get_legend_handles_labels()[0]]
    if handles:
        loss_axis.legend(handles=handles, fontsize=7, loc="upper right")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()
