"""The report of bench/loop.py: what each round of the pipeline's bootstrap is worth in
validation perplexity, and where the pipeline's stopping rule ends the loop.

Per corpus and seed, a `bootstrap` run (the pipeline's rounds, early stops off) and its
`control` (one round as long on the same start table, never reallocated) give:
  - each round's validation perplexity (the whole split, what the stopping rule reads) and its
    gain on the best earlier round (what `pipeline.min_valid_gain` compares);
  - the reallocations' worth: the bootstrap's learning curve against the control's at the
    round's last step (both on the profile's evaluation sample, `train.eval_tokens`);
  - for each candidate `min_valid_gain`, the round where the loop stops (within the pipeline's
    `max_rounds`, and with no cap) and what stopping there costs against the best round run.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench import common
from bench.common import fmt, markdown_table
from bench.quality_rounds import LOOP, loop_decisions
from tasks.rounds import CONVERGED

CANDIDATES = (0.0, 0.01, 0.02, 0.03, 0.04, 0.05)  # min_valid_gain values the report replays
TOLERANCE = 0.01  # what the chosen criterion may cost: validation perplexity against every round


def bench_rounds(run: dict[str, Any]) -> list[dict[str, Any]]:
    """The pipeline's round rows in the form `quality_rounds.loop_decisions` reads."""
    return [
        {
            "round": r["round"],
            "valid_ppl": r["valid_ppl"],
            "moved": r["moved_fraction"],
            "objective_gain": r["objective_gain"],
        }
        for r in run["rounds"]
    ]


def stop(run: dict[str, Any], min_valid_gain: float, max_rounds: int | None) -> dict[str, Any]:
    """Where the loop ends this run with the pipeline's rule, `min_valid_gain` and `max_rounds`
    (None: every round run): {"round", "reason", "valid_ppl" (the best round's up to there),
    "cost" (that perplexity over the best of every round run, less 1)}. The reason is
    "continue" when the run ended before the loop would."""
    rounds = bench_rounds(run)
    cap = max_rounds if max_rounds is not None else len(rounds) + 1
    loop = replace(LOOP, min_valid_gain=min_valid_gain, max_rounds=cap)
    decisions = loop_decisions(rounds, loop)
    k = next((i for i, d in enumerate(decisions) if d != "continue"), len(decisions) - 1)
    best = min(r["valid_ppl"] for r in rounds[: k + 1])
    every = min(r["valid_ppl"] for r in rounds)
    return {"round": k + 1, "reason": decisions[k], "valid_ppl": best, "cost": best / every - 1}


def curve_at(curve: list[dict[str, float]], step: int) -> float | None:
    """The curve's value at its last evaluation up to `step`."""
    at = [p["valid_ppl"] for p in curve if p["step"] <= step]
    return at[-1] if at else None


def against_control(
    boot: dict[str, Any], control: dict[str, Any] | None
) -> list[tuple[float | None, float | None, float | None]]:
    """Per round: the bootstrap's curve at the round's last step, the control's at the same
    step, and the gain over it (None where either is missing)."""
    out, done = [], 0
    flat = control["curves"][0] if control else []
    for r, curve in zip(boot["rounds"], boot["curves"], strict=True):
        done += r["steps"]
        mine = curve[-1]["valid_ppl"] if curve else None
        theirs = curve_at(flat, done) if control else None
        out.append((mine, theirs, None if mine is None or theirs is None else 1 - mine / theirs))
    return out


def round_lines(boot: dict[str, Any], control: dict[str, Any] | None) -> list[list[str]]:
    """One line per bootstrap round (see `rounds_table`)."""
    lines, done, best = [], 0, None
    decisions = loop_decisions(bench_rounds(boot))
    tokens = boot.get("moved_tokens") or [None] * len(decisions)
    mates = boot.get("mates_kept") or [None] * len(decisions)
    for r, (mine, theirs, worth), decision, moved_tokens, kept in zip(
        boot["rounds"], against_control(boot, control), decisions, tokens, mates, strict=True
    ):
        done += r["steps"]
        gain = None if best is None else 1 - r["valid_ppl"] / best
        best = r["valid_ppl"] if best is None else min(best, r["valid_ppl"])
        lines.append(
            [
                boot["corpus"],
                str(boot["seed"]),
                str(r["round"]),
                f"{done:,}",
                fmt(r["valid_ppl"], ".1f"),
                fmt(gain, ".1%"),
                fmt(mine, ".1f"),
                fmt(theirs, ".1f"),
                fmt(worth, ".1%"),
                fmt(r["moved_fraction"], ".1%"),
                fmt(moved_tokens, ".1%"),
                "-" if kept is None else f"{kept[0]:.1%} / {kept[1]:.1%}",
                fmt(r["objective_gain"], ".1%"),
                decision,
            ]
        )
    return lines


def pairs(runs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(bootstrap, its control or None) per corpus and seed, in corpus order."""
    by = {(r["corpus"], r["seed"], r["what"]): r for r in runs}
    return [
        (r, by.get((r["corpus"], r["seed"], "control")))
        for key, r in sorted(by.items())
        if key[2] == "bootstrap"
    ]


def rounds_table(runs: list[dict[str, Any]]) -> str:
    """Per round: steps so far, validation perplexity (whole split) and its gain on the best
    earlier round, the learning curves' last value (evaluation sample) beside the control's at
    the same step and the gain over it, the words the next reallocation moved (and the share of
    the table's training tokens they carry), of the word pairs that shared a row (a column)
    the share that still do, its objective gain, and what the pipeline's stopping rule, with
    its defaults, decides."""
    lines = [line for boot, control in pairs(runs) for line in round_lines(boot, control)]
    headers = ["corpus", "seed", "round", "steps", "valid ppl", "gain on best earlier"]
    headers += ["curve", "control", "over control", "moved", "their tokens"]
    headers += ["row / column mates kept", "objective gain", "loop (defaults)"]
    return markdown_table(headers, lines, "lrrrrrrrrrrrrl")


def criterion_table(runs: list[dict[str, Any]]) -> str:
    """For each candidate min_valid_gain: where the loop stops within the pipeline's max_rounds
    and with no cap, and what stopping there costs against the best round of the run."""
    lines = []
    for boot, _ in pairs(runs):
        for t in CANDIDATES:
            capped, free = stop(boot, t, LOOP.max_rounds), stop(boot, t, None)
            lines.append(
                [
                    boot["corpus"],
                    str(boot["seed"]),
                    f"{t:g}" + (" (default)" if t == LOOP.min_valid_gain else ""),
                    f"{capped['reason']}@{capped['round']}",
                    fmt(capped["cost"], ".1%"),
                    f"{free['reason']}@{free['round']}",
                    fmt(free["cost"], ".1%"),
                ]
            )
    headers = ["corpus", "seed", "min_valid_gain", f"stop (max {LOOP.max_rounds})", "cost"]
    headers += ["stop (no cap)", "cost"]
    return markdown_table(headers, lines, "lrllrlr")


def chosen(runs: list[dict[str, Any]]) -> float:
    """The criterion these runs support: the largest candidate `min_valid_gain` (the fewest
    rounds) whose stop, with no cap on rounds, costs at most `TOLERANCE` of validation
    perplexity against the best of every round run, on every run."""
    boots = [b for b, _ in pairs(runs)]
    return max(t for t in CANDIDATES if all(stop(b, t, None)["cost"] <= TOLERANCE for b in boots))


def targets(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per corpus, with the pipeline's defaults: does the loop stop converged (a stable table, or
    a round worth less than `min_valid_gain`, or no better) within max_rounds, on every seed?
    And is the table stable (fewer than `moved_threshold` of the words moved) by then?"""
    out: dict[str, dict[str, Any]] = {}
    for corpus in sorted({r["corpus"] for r in runs}):
        boots = [b for b, _ in pairs(runs) if b["corpus"] == corpus]
        stops = [stop(b, LOOP.min_valid_gain, LOOP.max_rounds) for b in boots]
        value = ", ".join(sorted(f"{s['reason']}@{s['round']}" for s in stops))
        name = f"{corpus}: the pipeline's loop stops converged within {LOOP.max_rounds} rounds"
        out[name] = common.target(
            value, " or ".join(CONVERGED), all(s["reason"] in CONVERGED for s in stops)
        )
        name = f"{corpus}: the table is stable (stop reason) within {LOOP.max_rounds} rounds"
        out[name] = common.target(value, "stable", all(s["reason"] == "stable" for s in stops))
    return out


def facts(saved: dict[str, Any]) -> dict[str, str]:
    """Named figures for the docs (bench/docs_numbers.py): per corpus, seed and round
    `CORPUS/seedS/roundK/{valid,gain,curve,control,over_control,moved,moved_tokens,row_mates,
    col_mates}`; per corpus and seed `CORPUS/seedS/{stop,stop_cost,test,control_steps}` (the default
    criterion's stop within max_rounds, what it costs against the best round, the final test
    perplexity, the steps the control trained: fewer than asked where it stopped itself); and
    per corpus, over its seeds, the range of each seed's figure as `CORPUS/NAME_min` and
    `_max` for `last_gain` (the last round's gain on the best before it), `stop_cost`, `test`,
    `over_control` (the last round's), `moved`, `moved_tokens`, `row_mates` and `col_mates`
    (any reallocation's), with
    `CORPUS/stops` (every seed's stop) and `CORPUS/seeds`."""
    runs = saved["runs"]
    out = {"min_valid_gain": f"{LOOP.min_valid_gain:.0%}", "tolerance": f"{TOLERANCE:.0%}"}
    out["chosen"] = f"{chosen(runs):.0%}"
    spans: dict[str, dict[str, list[float]]] = {}
    for boot, control in pairs(runs):
        head, corpus = f"{boot['corpus']}/seed{boot['seed']}", boot["corpus"]
        lines = round_lines(boot, control)
        for line in lines:
            names = ("valid", "gain", "curve", "control", "over_control", "moved", "moved_tokens")
            for name, value in zip(names, (line[4], *line[5:11]), strict=True):
                out[f"{head}/round{line[2]}/{name}"] = value
        s = stop(boot, LOOP.min_valid_gain, LOOP.max_rounds)
        out[f"{head}/stop"] = f"{s['reason']}@{s['round']}"
        out[f"{head}/stop_cost"] = f"{s['cost']:.1%}"
        out[f"{head}/test"] = f"{boot['test_ppl']:.1f}"
        if control is not None:
            out[f"{head}/control_steps"] = f"{control['rounds'][0]['steps']:,}"
        best = min(r["valid_ppl"] for r in boot["rounds"][:-1])
        seen = {
            "last_gain": [1 - boot["rounds"][-1]["valid_ppl"] / best],
            "stop_cost": [s["cost"]],
            "test": [boot["test_ppl"]],
            "moved": [r["moved_fraction"] for r in boot["rounds"] if r["moved_fraction"]],
            "moved_tokens": [v for v in boot.get("moved_tokens") or [] if v is not None],
        }
        for k, kept in enumerate(boot.get("mates_kept") or [], start=1):
            if kept is not None:
                out[f"{head}/round{k}/row_mates"] = f"{kept[0]:.1%}"
                out[f"{head}/round{k}/col_mates"] = f"{kept[1]:.1%}"
                seen.setdefault("row_mates", []).append(kept[0])
                seen.setdefault("col_mates", []).append(kept[1])
        worth = against_control(boot, control)[-1][2]
        if worth is not None:
            seen["over_control"] = [worth]
        for name, values in seen.items():
            spans.setdefault(corpus, {}).setdefault(name, []).extend(values)
        out[f"{corpus}/stops"] = ", ".join(
            x for x in (out.get(f"{corpus}/stops"), out[f"{head}/stop"]) if x
        )
    for corpus, named in spans.items():
        out[f"{corpus}/seeds"] = str(sum(b["corpus"] == corpus for b, _ in pairs(runs)))
        for name, values in named.items():
            if values:
                form = ".1f" if name == "test" else ".1%"
                out[f"{corpus}/{name}_min"] = format(min(values), form)
                out[f"{corpus}/{name}_max"] = format(max(values), form)
    return out


def markdown(runs: list[dict[str, Any]]) -> str:
    lines = common.target_lines(targets(runs), str)
    pick = chosen(runs)
    choice = (
        f"The criterion these runs support (the largest min_valid_gain whose stop costs at most "
        f"{TOLERANCE:.0%} on every run): {pick:g}; the pipeline's default: "
        f"{LOOP.min_valid_gain:g}"
        + (" (the same)" if pick == LOOP.min_valid_gain else " (differs)")
    )
    return "\n\n".join([rounds_table(runs), criterion_table(runs) + "\n\n" + choice, lines])


def write(paths: list[Path], out: Path) -> dict[str, Any]:
    """The report of the runs in `paths`, written to `out` and printed."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    if not any(r["what"] == "bootstrap" for r in runs):
        raise SystemExit(f"{', '.join(map(str, paths))}: no bootstrap run to report")
    result = {"runs": runs, "targets": targets(runs), "markdown": markdown(runs)}
    common.write_json(out, result)
    print(result["markdown"])
    return result
