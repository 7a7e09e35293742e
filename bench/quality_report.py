"""The quality study's tables and plots: rows grouped over seeds (mean and spread), the targets
(what each round is worth: bench/quality_rounds.py), test perplexity against parameters with
the Pareto front, validation curves against training seconds (matplotlib PNGs), and the named
figures the docs cite (`facts`)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from bench.common import fmt, markdown_table, target, target_lines
from bench.quality_rounds import LOOP, first_stop, rounds_table

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
                "shortlist": members[0].get("shortlist"),  # K as run (covX sets it per corpus)
                "steps": statistics.mean(m["steps"] for m in members),
                "train_seconds": statistics.mean(m["train_seconds"] for m in members),
                "valid_ppl": statistics.mean(m["valid_ppl"] for m in members),
                "test_ppl": statistics.mean(tests),
                "test_spread": max(tests) - min(tests),
                "realloc_seconds": statistics.mean(m.get("realloc_seconds", 0) for m in members),
                "peak_mib": max((m.get("peak_mib") or 0) for m in members) or None,
            }
        )
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The grouped rows as a table (a peak-memory column where the rows measured it)."""
    peaks = any(r.get("peak_mib") for r in rows)
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
        + ([fmt(g["peak_mib"], ",.0f")] if peaks else [])
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
    ] + (["peak MiB"] if peaks else [])
    return markdown_table(headers, table, "llllrrrrrrr" + ("r" if peaks else ""))


def document(rows: list[dict[str, Any]], found: dict[str, dict[str, Any]]) -> str:
    """A results file's "markdown": the rows' table, the targets `found`, the rounds table."""
    parts = [markdown(rows), target_text(found), rounds_table(rows)]
    return "\n\n".join(p for p in parts if p)


def loop_targets(rows: list[dict[str, Any]], groups: list[dict[str, Any]]) -> dict[str, Any]:
    """Per corpus and equal-time budget: does the loop stop because the table is stable within
    `LOOP.max_rounds` rounds, with the best bootstrap (`lightrnn` rows of 2+ rounds)? Its value
    counts where each of that group's runs would stop (`first_stop`)."""
    out: dict[str, dict[str, Any]] = {}
    boots = [
        g
        for g in groups
        if g["model"] == "lightrnn"
        and at_equal_time(g["budget"])
        and any(len(r.get("rounds", [])) > 1 for r in members(rows, g))
    ]
    for corpus, budget in sorted({(g["corpus"], g["budget"]) for g in boots}):
        best = claimable([g for g in boots if (g["corpus"], g["budget"]) == (corpus, budget)])
        stops = [first_stop(r["rounds"]) for r in members(rows, best) if r.get("rounds")]
        value = ", ".join(f"{s} x{stops.count(s)}" for s in sorted(set(stops)))
        name = f"{corpus}, {budget}: the loop stops as stable within {LOOP.max_rounds} rounds"
        stable = all(s.startswith("stable@") for s in stops)
        out[f"{name}, best bootstrap {best['variant']}"] = target(value, "stable", stable)
    return out


def at_equal_time(budget: str) -> bool:
    """Whether a budget gives every model the same training time (`paced`, `time`)."""
    return budget.split("-")[0] in ("paced", "time")


def members(rows: list[dict[str, Any]], group: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows (one per seed) a group was made of."""
    return [r for r in rows if all(r[k] == group[k] for k in KEY)]


GOALS = {
    "convergence": (1.10, "<= 1.10"),
    "time": (0.9999, "< 1.00"),
    "params": (0.9999, "< 1.00"),
}  # LightRNN / full softmax test perplexity


def targets(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The issue's targets where the rows measured them: LightRNN's test perplexity over the
    full softmax's at the same budget (`params-X`: against the full softmax's `X`), the
    reallocation's gain over the random-table control at convergence, and per corpus at equal
    time (`equal_time_targets`)."""
    groups = grouped(rows)
    by = {(g["corpus"], g["budget"], g["model"], g["variant"]): g for g in groups}
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
    return out | equal_time_targets(groups) | loop_targets(rows, groups)


SMALL = 1.10  # a baseline "at LightRNN's size" has at most 10% more parameters
MIN_SEEDS = 3  # a claim rests on three seeds or more
OVER = f"over >= {MIN_SEEDS} seeds"


def equal_time_targets(groups: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per corpus and equal-time budget, on the mean over seeds: the best LightRNN (`claimable`)
    against each trained baseline family's best; at LightRNN's smallest size, its gain over each
    family's best at most `SMALL` x that size; the baseline points that dominate the best
    LightRNN; the reallocation's gain over the random table. A comparison is met only when
    every row in it has `MIN_SEEDS` seeds; the name says each row's seeds."""
    out: dict[str, dict[str, Any]] = {}
    cells: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for g in groups:
        if at_equal_time(g["budget"]):
            cells[(g["corpus"], g["budget"])].append(g)
    for (corpus, budget), gs in cells.items():
        ours = [g for g in gs if g["model"].startswith("lightrnn")]
        if not ours:
            continue
        theirs = {f: [g for g in gs if g["model"] == f] for f in ("adaptive", "full")}
        where = f"{corpus}, {budget}"
        best = min(ours, key=lambda g: g["test_ppl"])  # for dominance: the best, however seeded
        claim = claimable(ours)
        if trained := [f for f, v in theirs.items() if v]:  # a family not trained is named
            rivals = [min(theirs[f], key=lambda g: g["test_ppl"]) for f in trained]
            ratio = claim["test_ppl"] / min(r["test_ppl"] for r in rivals)
            only = "" if len(trained) == len(theirs) else f" ({' and '.join(trained)} only)"
            out[f"{where}: best LightRNN / best baseline{only} ({seeds_of(claim, *rivals)})"] = (
                target(round(ratio, 3), f"< 1.00 {OVER}", ratio < 1 and enough(claim, *rivals))
            )
        # LightRNN's size: its smallest at which both families were trained too (a smaller
        # LightRNN measured alone is a point of the frontier, not a budget compared at)
        sizes = sorted({g["params"] for g in ours})
        smallest = next(
            (
                p
                for p in sizes
                if all(any(g["params"] <= SMALL * p for g in v) for v in theirs.values())
            ),
            sizes[0],
        )
        mine = claimable([g for g in ours if g["params"] <= SMALL * smallest])
        small = {f: [g for g in v if g["params"] <= SMALL * smallest] for f, v in theirs.items()}
        if all(small.values()):
            rivals = [min(v, key=lambda g: g["test_ppl"]) for v in small.values()]
            gain = 1 - mine["test_ppl"] / min(r["test_ppl"] for r in rivals)
            name = f"{where}: at LightRNN's size ({smallest / 1e6:.2f}M), gain over both baselines"
            out[f"{name} ({seeds_of(mine, *rivals)})"] = target(
                round(gain, 3), f">= 0.10 {OVER}", gain >= 0.1 and enough(mine, *rivals)
            )
        beaten = [
            g
            for v in theirs.values()
            for g in v
            if g["params"] < best["params"] and g["test_ppl"] < best["test_ppl"]
        ]
        if any(theirs.values()):
            out[f"{where}: baseline points dominating the best LightRNN"] = target(
                len(beaten), "0", not beaten
            )
        for g in ours:
            control = next(
                (
                    c
                    for c in ours
                    if c["model"] == "lightrnn-random" and c["variant"] == g["variant"]
                ),
                None,
            )
            if g["model"] != "lightrnn" or control is None:
                continue
            gain = 1 - g["test_ppl"] / control["test_ppl"]
            out[f"{where}: reallocation gain, {g['variant']} ({seeds_of(g, control)})"] = target(
                round(gain, 3), f">= 0.05 {OVER}", gain >= 0.05 and enough(g, control)
            )
    return out


def claimable(ours: list[dict[str, Any]]) -> dict[str, Any]:
    """The LightRNN a claim can rest on: the best with `MIN_SEEDS` seeds, else the best. (The
    baselines it is compared with are each family's best, however many seeds they have.)"""
    seeded = [g for g in ours if g["seeds"] >= MIN_SEEDS]
    return min(seeded or ours, key=lambda g: g["test_ppl"])


def enough(*groups: dict[str, Any]) -> bool:
    """Whether every compared group has `MIN_SEEDS` seeds: a claim can rest on them."""
    return all(g["seeds"] >= MIN_SEEDS for g in groups)


def seeds_of(*groups: dict[str, Any]) -> str:
    """'seeds 3/1': how many seeds each compared group has."""
    return "seeds " + "/".join(str(g["seeds"]) for g in groups)


def target_text(found: dict[str, dict[str, Any]]) -> str:
    show = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    return target_lines(found, show) if found else "(no target measured)"


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points no other point beats on both axes (fewer parameters and lower perplexity),
    by increasing parameters."""
    front: list[tuple[float, float]] = []
    for x, y in sorted(points):
        if not front or y < front[-1][1]:
            front.append((x, y))
    return front


def label(g: dict[str, Any]) -> str:
    return g["model"] + ("" if g["variant"] in ("-", "plain") else f" {g['variant']}")


def plots(rows: list[dict[str, Any]], folder: Path, stem: str) -> list[Path]:
    """Per corpus: test perplexity against parameters with the Pareto front drawn
    (`STEM-params.png`), and validation perplexity against training seconds, one curve per
    run from its evaluations (`STEM-curves.png`; seed 0 of each group)."""
    corpora = sorted({r["corpus"] for r in rows})
    made = []
    fig, axes = plt.subplots(1, len(corpora), figsize=(6 * len(corpora), 4), dpi=110, squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        groups = [g for g in grouped(rows) if g["corpus"] == corpus]
        for g in groups:
            ax.scatter(g["params"], g["test_ppl"], s=30)
            ax.annotate(
                f"{label(g)} ({g['budget']})",
                (g["params"], g["test_ppl"]),
                fontsize=7,
                textcoords="offset points",
                xytext=(4, 3),
            )
        front = pareto([(g["params"], g["test_ppl"]) for g in groups])
        ax.step(*zip(*front, strict=True), where="post", color="grey", lw=1, label="Pareto front")
        ax.set_xscale("log")
        ax.set_yscale("log")  # a run that barely trained sits orders of magnitude above the rest
        ax.set_xlabel("parameters")
        ax.set_ylabel("test perplexity")
        ax.set_title(corpus)
        ax.legend(fontsize=7)
    made.append(save(fig, folder / f"{stem}-params.png"))
    fig, axes = plt.subplots(1, len(corpora), figsize=(6 * len(corpora), 4), dpi=110, squeeze=False)
    for ax, corpus in zip(axes[0], corpora, strict=True):
        for r in rows:
            if r["corpus"] == corpus and r.get("curve") and r["seed"] == min_seed(rows, r):
                xs = [c["seconds"] for c in r["curve"]]
                ys = [c["valid_ppl"] for c in r["curve"]]
                ax.plot(xs, ys, marker=".", lw=1, label=f"{label(r)} ({r['budget']})")
        ax.set_yscale("log")
        ax.set_xlabel("training seconds")
        ax.set_ylabel("validation perplexity")
        ax.set_title(corpus)
        if ax.lines:
            ax.legend(fontsize=7)
        else:
            ax.text(0.5, 0.5, "no evaluation history in these rows", ha="center", va="center")
    made.append(save(fig, folder / f"{stem}-curves.png"))
    return made


def min_seed(rows: list[dict[str, Any]], row: dict[str, Any]) -> int:
    """The lowest seed among the rows of `row`'s group."""
    return min(r["seed"] for r in rows if all(r[k] == row[k] for k in KEY))


def save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """Named figures for the docs (bench/docs_numbers.py): per row group
    `CORPUS/BUDGET/MODEL/VARIANT/{test,spread,valid,steps,seconds,params,hidden,seeds}` (and
    `shortlist`, K as run, and `peak_mib`, the largest of its rows, where the rows record
    them); per round of a LightRNN row
    `.../seedS/roundK/{valid,moved,objective_gain,valid_after,move_gain}`
    (move_gain: validation perplexity right after the reallocation against before); per
    evaluation of a group's curves `.../curve_worst/STEP` (its worst seed's sample perplexity
    there: a row read at fewer steps than it trained); and for two groups of one corpus and
    budget (or a `params-` budget and its base) `A/vs/[BUDGET/]MODEL/VARIANT/{ratio,gain,
    fewer_params,seconds_ratio}` (BUDGET where it is not A's): test perplexity A / B, 1 - that
    in percent, B's parameters / A's, A's training seconds / B's."""
    groups = grouped(saved["results"])
    out: dict[str, str] = {}
    for g in groups:
        key = "/".join(g[k] for k in KEY)
        out[f"{key}/test"] = f"{g['test_ppl']:.1f}"
        out[f"{key}/spread"] = f"{g['test_spread'] / 2:.1f}"
        out[f"{key}/valid"] = f"{g['valid_ppl']:.1f}"
        out[f"{key}/steps"] = f"{g['steps']:,.0f}"
        out[f"{key}/seconds"] = f"{g['train_seconds']:,.0f}"
        out[f"{key}/params"] = f"{g['params'] / 1e6:.2f}M"
        out[f"{key}/hidden"] = str(g["hidden"])
        if g.get("shortlist") is not None:  # rows from before rows said so have none
            out[f"{key}/shortlist"] = f"{g['shortlist']:,}"
        out[f"{key}/seeds"] = str(g["seeds"])
        out[f"{key}/realloc_seconds"] = f"{g['realloc_seconds']:,.0f}"
        if g.get("peak_mib"):
            out[f"{key}/peak_mib"] = f"{g['peak_mib']:,.0f}"
    for r in saved["results"]:  # per round of a bootstrap: ROW/seedS/roundK/FIELD
        row = "/".join(r[k] for k in KEY) + f"/seed{r['seed']}"
        for k in r.get("rounds", []) if r["model"] == "lightrnn" else []:
            at = f"{row}/round{k['round']}"
            out[f"{at}/valid"] = fmt(k.get("valid_ppl"), ".1f")  # None: never evaluated
            for field in ("moved", "objective_gain"):
                if k.get(field) is not None:
                    out[f"{at}/{field}"] = f"{k[field]:.1%}"
            if k.get("valid_after") is not None and k.get("valid_ppl") is not None:
                out[f"{at}/valid_after"] = f"{k['valid_after']:.1f}"
                out[f"{at}/move_gain"] = f"{1 - k['valid_after'] / k['valid_ppl']:.1%}"
    for r in saved["results"]:  # the worst seed's curve at each evaluation (rounding keeps order)
        for p in r.get("curve") or []:
            at = "/".join(r[k] for k in KEY) + f"/curve_worst/{p['step']}"
            out[at] = f"{max(float(out.get(at, 0)), p['valid_ppl']):.1f}"
    for a in groups:
        for b in groups:
            base = a["budget"].removeprefix("params-")
            if a is b or a["corpus"] != b["corpus"] or b["budget"] not in (a["budget"], base):
                continue
            other = b["model"] + "/" + b["variant"]
            if b["budget"] != a["budget"]:  # a params- row against its base budget's row
                other = b["budget"] + "/" + other
            key = "/".join(a[k] for k in KEY) + "/vs/" + other
            ratio = a["test_ppl"] / b["test_ppl"]
            fewer = b["params"] / a["params"]
            out[f"{key}/ratio"] = f"{ratio:.2f}"
            out[f"{key}/gain"] = f"{(1 - ratio) * 100:.1f}%"
            out[f"{key}/fewer_params"] = f"{fewer:.0f}x" if fewer >= 10 else f"{fewer:.1f}x"
            out[f"{key}/seconds_ratio"] = f"{a['train_seconds'] / b['train_seconds']:.2f}"
    return out


if __name__ == "__main__":  # redraw a results file's plots: python -m bench.quality_report FILE
    import json
    import sys

    for path in map(Path, sys.argv[1:]):
        for made in plots(json.loads(path.read_text())["results"], path.parent, path.stem):
            print(made)
