"""The quality study's targets at equal time, checked on rows whose answers are known."""

from __future__ import annotations

from typing import Any

from bench.quality_report import equal_time_targets, grouped, target_text


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
