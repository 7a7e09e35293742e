"""The quality study's targets at equal time, checked on rows whose answers are known."""

from __future__ import annotations

from typing import Any

from bench.quality import merge_row
from bench.quality_report import (
    equal_time_targets,
    facts,
    grouped,
    loop_targets,
    target_text,
)
from bench.quality_rounds import LOOP, first_stop, loop_decisions, rounds_table
from tasks.settings import PipelineConfig


def row(model: str, variant: str, params: int, test: float, seed: int = 0) -> dict[str, Any]:
    return {
        "corpus": "c",
        "budget": "paced-60s",
        "model": model,
        "variant": variant,
        "seed": seed,
        "params": params,
        "hidden": 8,
        "steps": 10,
        "train_seconds": 60.0,
        "valid_ppl": test,
        "test_ppl": test,
    }


def found(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, bool | None]]:
    return {k: (t["value"], t["met"]) for k, t in equal_time_targets(grouped(rows)).items()}


def test_every_target_on_a_study_lightrnn_wins() -> None:
    rows = [
        *(row("lightrnn", "tie", 1000, p, s) for s, p in enumerate((90.0, 100.0, 110.0))),
        *(row("lightrnn-random", "tie", 1000, p, s) for s, p in enumerate((120.0, 120.0, 120.0))),
        row("adaptive", "-", 20_000, 105.0),
        *(row("adaptive", "h2", 1_050, 200.0, s) for s in range(3)),
        row("full", "tie", 18_000, 150.0),
        *(row("full", "tie+h2", 1_100, 300.0, s) for s in range(3)),
        row("full", "tie+h1", 1_200, 50.0),  # over 10% larger than LightRNN: not at its size
    ]
    assert found(rows) == {
        "c, paced-60s: best LightRNN / best baseline (seeds 3/1/1)": (round(100 / 50, 3), False),
        "c, paced-60s: at LightRNN's size (0.00M), gain over both baselines (seeds 3/3/3)": (
            0.5,
            True,
        ),
        "c, paced-60s: baseline points dominating the best LightRNN": (0, True),
        "c, paced-60s: reallocation gain, tie (seeds 3/3)": (round(1 - 100 / 120, 3), True),
    }
    # the same figures on one seed of a baseline are not a claim
    one = [r for r in rows if not (r["variant"] == "tie+h2" and r["seed"] > 0)]
    name = "c, paced-60s: at LightRNN's size (0.00M), gain over both baselines (seeds 3/3/1)"
    assert found(one)[name] == (0.5, False)


def test_a_smaller_lightrnn_alone_does_not_move_the_size_compared_at() -> None:
    rows = [
        *(row("lightrnn", "tie", 1_000_000, p, s) for s, p in enumerate((90.0, 100.0, 110.0))),
        row("lightrnn", "tie+h1", 300_000, 130.0),  # a frontier point: no baseline this small
        *(row("adaptive", "h2", 1_050_000, 200.0, s) for s in range(3)),
        *(row("full", "tie+h2", 1_100_000, 300.0, s) for s in range(3)),
    ]
    name = "c, paced-60s: at LightRNN's size (1.00M), gain over both baselines (seeds 3/3/3)"
    assert found(rows)[name] == (0.5, True)


def test_a_dominating_baseline_and_too_few_seeds_miss() -> None:
    rows = [
        row("lightrnn", "tie", 1000, 100.0),
        row("lightrnn-random", "tie", 1000, 150.0),
        row("adaptive", "-", 900, 99.0),
        row("full", "tie", 5000, 98.0),
    ]
    got = found(rows)
    assert got["c, paced-60s: baseline points dominating the best LightRNN"] == (1, False)
    # a 33% gain on one seed is not a claim
    assert got["c, paced-60s: reallocation gain, tie (seeds 1/1)"] == (0.333, False)
    # no full softmax at LightRNN's size: that target is not measured, so not listed
    assert not any("LightRNN's size" in k for k in got)
    text = target_text(equal_time_targets(grouped(rows)))
    assert (
        "- c, paced-60s: baseline points dominating the best LightRNN: 1 (target 0): NOT met"
        in text
    )


def test_budgets_other_than_equal_time_are_not_judged_here() -> None:
    rows = [dict(row("lightrnn", "tie", 1000, 100.0), budget="steps-100")]
    assert found(rows) == {}


def test_the_rounds_table_puts_each_round_beside_the_control_at_its_step() -> None:
    rounds = [
        {"round": 1, "steps": 100, "valid_ppl": 300.0, "moved": 0.5, "objective_gain": 0.1,
         "valid_after": 320.0},
        {"round": 2, "steps": 200, "valid_ppl": 200.0, "moved": 0.25, "objective_gain": 0.02,
         "valid_after": 205.0},
        {"round": 3, "steps": 300, "valid_ppl": 180.0},
    ]  # fmt: skip
    light = row("lightrnn", "tie+r3", 1000, 170.0) | {"rounds": rounds}
    curve = [{"step": s, "valid_ppl": 400.0 - s / 2} for s in (50, 100, 150, 200, 250)]
    control = row("lightrnn-random", "tie", 1000, 190.0) | {"curve": curve}
    lines = rounds_table([light, control]).splitlines()
    assert lines[2:] == [
        "| c | tie+r3 | 0 | 1 | 100 | 300.0 | 350.0 @ 100 | 50.0% | 10.0% | 320.0 | continue |",
        "| c | tie+r3 | 0 | 2 | 200 | 200.0 | 300.0 @ 200 | 25.0% | 2.0% | 205.0 | continue |",
        "| c | tie+r3 | 0 | 3 | 300 | 180.0 | 275.0 @ 250 | - | - | - | continue |",
    ]
    assert rounds_table([control]) == ""  # no bootstrap of three rounds


def test_round_facts_name_each_round_of_a_bootstrap() -> None:
    rounds = [
        {"round": 1, "steps": 100, "valid_ppl": 300.0, "moved": 0.5, "objective_gain": 0.1,
         "valid_after": 285.0},
        {"round": 2, "steps": 200, "valid_ppl": 200.0},
    ]  # fmt: skip
    light = row("lightrnn", "tie", 1000, 170.0) | {"rounds": rounds}
    got = facts({"results": [light]})
    at = "c/paced-60s/lightrnn/tie/seed0/round1"
    assert {k: v for k, v in got.items() if k.startswith(at)} == {
        f"{at}/valid": "300.0",
        f"{at}/moved": "50.0%",
        f"{at}/objective_gain": "10.0%",
        f"{at}/valid_after": "285.0",
        f"{at}/move_gain": "5.0%",
    }
    assert got["c/paced-60s/lightrnn/tie/seed0/round2/valid"] == "200.0"


def test_the_rounds_table_prefers_a_control_with_the_same_rounds() -> None:
    rounds = [{"round": k, "steps": 100 * k, "valid_ppl": 300.0 - k} for k in (1, 2, 3)]
    light = row("lightrnn", "tie+r3", 1000, 170.0) | {"rounds": rounds}
    two = row("lightrnn-random", "tie", 1000, 190.0) | {"curve": [{"step": 150, "valid_ppl": 9.0}]}
    same = row("lightrnn-random", "tie+r3", 1000, 190.0) | {
        "curve": [{"step": s, "valid_ppl": 1.0 * s} for s in (100, 200, 300)]
    }
    lines = rounds_table([light, two, same]).splitlines()
    assert [line.split(" | ")[6] for line in lines[2:]] == [
        "100.0 @ 100",
        "200.0 @ 200",
        "300.0 @ 300",
    ]
    # a keep margin changes only the reallocation, which the control never does
    kept = dict(light, variant="tie+keep0.05+r3")
    lines = rounds_table([kept, two, same]).splitlines()
    assert [line.split(" | ")[6] for line in lines[2:]] == [
        "100.0 @ 100",
        "200.0 @ 200",
        "300.0 @ 300",
    ]


def test_a_claim_rests_on_the_best_lightrnn_with_three_seeds() -> None:
    rows = [
        row("lightrnn", "tie+r4", 1000, 80.0),  # the best, on one seed
        *(row("lightrnn-random", "tie+cooc", 1000, 90.0, s) for s in range(3)),
        *(row("adaptive", "h2", 1000, 120.0, s) for s in range(3)),
        *(row("full", "tie+h2", 1000, 200.0, s) for s in range(3)),
    ]
    name = "c, paced-60s: at LightRNN's size (0.00M), gain over both baselines (seeds 3/3/3)"
    assert found(rows)[name] == (0.25, True)
    best = "c, paced-60s: best LightRNN / best baseline (seeds 3/3/3)"
    assert found(rows)[best] == (0.75, True)


def test_a_family_not_trained_is_named_and_the_others_still_compared() -> None:
    # no full softmax row (gcide-1: its step and its evaluation grow with |V|)
    rows = [
        *(row("lightrnn", "tie", 1000, 80.0, s) for s in range(3)),
        *(row("adaptive", "h2", 20_000, 100.0, s) for s in range(3)),
    ]
    best = "c, paced-60s: best LightRNN / best baseline (adaptive only) (seeds 3/3)"
    assert found(rows)[best] == (0.8, True)
    assert not any("gain over both baselines" in name for name in found(rows))


def rounds_of(*moved: float | None, valid: tuple[float, ...] = ()) -> list[dict[str, Any]]:
    valid = valid or tuple(300.0 - 10 * k for k in range(len(moved)))
    return [
        {"round": k + 1, "steps": 100 * (k + 1), "valid_ppl": v}
        | ({"moved": m, "objective_gain": 0.05} if m is not None else {})
        for k, (m, v) in enumerate(zip(moved, valid, strict=True))
    ]


def test_the_loop_decisions_are_the_pipelines_own_rule_with_its_defaults() -> None:
    assert PipelineConfig() == LOOP and (LOOP.max_rounds, LOOP.moved_threshold) == (4, 0.01)
    assert loop_decisions(rounds_of(0.3, 0.2, 0.1, None)) == ["continue"] * 3 + ["max_rounds"]
    assert first_stop(rounds_of(0.3, 0.2, 0.1, None)) == "max_rounds@4"
    assert first_stop(rounds_of(0.3, 0.005, None)) == "stable@2"  # fewer than 1% moved
    worse = rounds_of(0.3, 0.2, None, valid=(300.0, 310.0, 200.0))
    assert first_stop(worse) == "no_improvement@2"
    assert first_stop(rounds_of(0.3, None)) == "continue@2"  # the run ended first


def test_the_loop_target_judges_every_run_of_the_best_bootstrap() -> None:
    churn = [
        row("lightrnn", "tie+r3", 1000, 100.0 + s, s) | {"rounds": rounds_of(0.3, 0.2, None)}
        for s in range(3)
    ]
    settled = [
        row("lightrnn", "tie+keep0.1+r3", 1000, 101.0 + s, s)
        | {"rounds": rounds_of(0.05, 0.001 * s, None)}
        for s in range(3)
    ]
    name = "c, paced-60s: the loop stops as stable within 4 rounds, best bootstrap"

    def got(rows: list[dict[str, Any]]) -> dict[str, tuple[Any, bool | None]]:
        return {k: (t["value"], t["met"]) for k, t in loop_targets(rows, grouped(rows)).items()}

    assert got(churn + settled) == {f"{name} tie+r3": ("continue@3 x3", False)}
    # the best of one seed is not the claim: the best with three seeds is
    assert got(churn[:1] + settled) == {f"{name} tie+keep0.1+r3": ("stable@2 x3", True)}
    assert got([dict(r, budget="steps-10") for r in settled]) == {}  # equal time only


def test_a_merge_keeps_the_row_that_finished_last_whatever_the_file_order() -> None:
    def made(test: float, finished: str | None) -> dict[str, Any]:
        return row("lightrnn", "tie", 1000, test) | (
            {"provenance": {"finished": finished}} if finished else {}
        )

    old, rerun, older = (
        made(120.0, None),
        made(100.0, "2026-12-07T05:00:00+00:00"),
        made(110.0, "2026-12-06T05:00:00+00:00"),
    )
    for first, then, kept in [
        (rerun, old, rerun),  # a copy from before rows said when they finished
        (rerun, older, rerun),  # a copy taken before the rerun
        (older, rerun, rerun),
        (old, made(130.0, None), made(130.0, None)),  # neither says: the merged file wins
    ]:
        rows = [row("adaptive", "-", 2000, 90.0), first]
        merge_row(rows, then)
        assert rows[1:] == [kept] and rows[0]["model"] == "adaptive"


def test_a_groups_peak_memory_is_the_largest_of_its_rows() -> None:
    rows = [
        row("lightrnn", "tie", 1000, 170.0, seed=s) | {"peak_mib": p}
        for s, p in ((0, 900.4), (1, 1234.6))
    ]
    got = facts({"results": [*rows, row("full", "-", 5000, 200.0)]})
    assert got["c/paced-60s/lightrnn/tie/peak_mib"] == "1,235"
    assert "c/paced-60s/full/-/peak_mib" not in got  # a row that never measured it


def test_a_groups_curve_at_a_step_is_its_worst_seeds() -> None:
    def curve(*points: tuple[int, float]) -> list[dict[str, Any]]:
        return [{"round": 1, "step": s, "seconds": 1.0, "valid_ppl": v} for s, v in points]

    rows = [
        row("adaptive", "h8", 1000, 90.0, seed=0) | {"curve": curve((500, 120.04), (1000, 95.0))},
        row("adaptive", "h8", 1000, 91.0, seed=1) | {"curve": curve((500, 118.0), (1000, 96.26))},
        row("full", "-", 5000, 200.0),  # rows from before curves were kept have none
    ]
    got = {k: v for k, v in facts({"results": rows}).items() if "/curve_worst/" in k}
    assert got == {
        "c/paced-60s/adaptive/h8/curve_worst/500": "120.0",
        "c/paced-60s/adaptive/h8/curve_worst/1000": "96.3",
    }
