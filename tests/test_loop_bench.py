"""bench/loop.py: what each round of the pipeline's bootstrap is worth, and where its stopping
rule ends the loop. The report's arithmetic on known round histories; the runs themselves once,
at the tiny profile, through the real pipeline."""

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from pipeline_helpers import wikitext_slice

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bench/ is a package of the repository, not an installed one

from bench import loop, loop_report  # noqa: E402
from bench.quality_rounds import LOOP  # noqa: E402


def run(what: str, valid: list[float], moved: list[float | None], curves: list) -> dict[str, Any]:
    rounds = [
        {
            "round": k + 1,
            "steps": 100,
            "valid_ppl": v,
            "moved_fraction": m,
            "objective_gain": None if m is None else 0.02,
        }
        for k, (v, m) in enumerate(zip(valid, moved, strict=True))
    ]
    return {"corpus": "c", "seed": 0, "what": what, "rounds": rounds, "curves": curves}


def boot(valid: list[float], moved: list[float | None] | None = None) -> dict[str, Any]:
    moved = moved or [0.2] * (len(valid) - 1) + [None]
    curves = [
        [{"step": 50, "valid_ppl": v + 20}, {"step": 100, "valid_ppl": v + 10}] for v in valid
    ]
    return run("bootstrap", valid, moved, curves)


def test_each_round_is_set_against_the_best_earlier_one_and_the_control_at_its_step() -> None:
    b = boot([200.0, 150.0, 160.0])
    flat = [{"step": s, "valid_ppl": 300.0 - s / 10} for s in range(50, 301, 50)]
    control = run("control", [170.0], [None], [flat])
    lines = loop_report.round_lines(b, control)
    assert [line[3] for line in lines] == ["100", "200", "300"]  # steps so far
    assert [line[5] for line in lines] == ["-", "25.0%", "-6.7%"]  # 1 - 150/200, 1 - 160/150
    assert [line[6:9] for line in lines] == [
        ["210.0", "290.0", "27.6%"],  # 1 - 210/290
        ["160.0", "280.0", "42.9%"],
        ["170.0", "270.0", "37.0%"],
    ]
    assert [line[13] for line in lines] == ["continue", "continue", "no_improvement"]
    assert loop_report.round_lines(b, None)[0][7:9] == ["-", "-"]  # no control: not compared
    assert [line[11] for line in lines] == ["-", "-", "-"]  # a run that did not measure them
    b["mates_kept"] = [[0.5, 0.25], [0.625, 0.125], None]
    assert [line[11] for line in loop_report.round_lines(b, control)] == [
        "50.0% / 25.0%",
        "62.5% / 12.5%",
        "-",
    ]


def test_the_criterion_stops_where_a_round_gains_less_than_it_and_says_what_that_costs() -> None:
    b = boot([300.0, 240.0, 228.0, 225.0, 224.0, 223.0])  # gains 20%, 5%, 1.3%, 0.4%, 0.4%
    got = {t: loop_report.stop(b, t, None) for t in (0.0, 0.01, 0.02, 0.1)}
    assert {t: (s["reason"], s["round"]) for t, s in got.items()} == {
        0.0: ("continue", 6),  # the run ended before the loop would
        0.01: ("small_gain", 5),  # round 4 gained 1.3%, round 5 0.4%
        0.02: ("small_gain", 4),
        0.1: ("small_gain", 3),
    }
    assert got[0.01]["valid_ppl"] == 224.0 and got[0.01]["cost"] == pytest.approx(224 / 223 - 1)
    capped = loop_report.stop(b, 0.0, 4)
    assert (capped["reason"], capped["round"], capped["valid_ppl"]) == ("max_rounds", 4, 225.0)
    settled = boot([300.0, 240.0, 230.0], moved=[0.2, 0.005, None])  # < 1% moved
    assert loop_report.stop(settled, 0.0, 4)["reason"] == "stable"


def test_the_targets_judge_every_seed_with_the_pipelines_defaults() -> None:
    stops_early = boot([300.0, 200.0, 210.0])  # no better in round 3: a converged stop
    runs = [stops_early, dict(boot([300.0, 240.0, 200.0, 180.0, 170.0]), seed=1)]
    name = f"c: the pipeline's loop stops converged within {LOOP.max_rounds} rounds"
    got = loop_report.targets(runs)
    assert LOOP.min_valid_gain < 0.1  # so the second seed's rounds (20%, 17%, 10%) all go on
    assert got[name] | {"target": ""} == {
        "value": "max_rounds@4, no_improvement@3",
        "target": "",
        "met": False,
    }
    stable = f"c: the table is stable (stop reason) within {LOOP.max_rounds} rounds"
    assert got[stable]["met"] is False
    assert loop_report.targets([stops_early])[name] == {
        "value": "no_improvement@3",
        "target": "stable or no_improvement or small_gain",
        "met": True,
    }


def test_the_control_is_one_round_of_all_the_rounds_steps() -> None:
    rounds, boot_set = loop.overrides("wikitext-2", "bootstrap", 6, 1)
    assert rounds == 6 and boot_set["pipeline.seed"] == boot_set["train.seed"] == 1
    assert boot_set["pipeline.moved_threshold"] == boot_set["pipeline.min_valid_gain"] == 0.0
    one, control = loop.overrides("wikitext-2", "control", 6, 1, extra=["train.max_steps=7"])
    assert one == 1 and control["train.max_steps"] == 42
    assert loop.overrides("gcide", "bootstrap", 2, 0)[1]["corpus.min_count"] == 3


@pytest.mark.prefect
@pytest.mark.slow  # two pipeline runs, tens of seconds
def test_the_runs_and_their_report_come_from_the_pipeline_itself(
    prefect_api, tmp_path, monkeypatch
) -> None:
    data = wikitext_slice(tmp_path / "wt2", train_lines=600, eval_lines=60)
    monkeypatch.setenv("LIGHTRNN_RUNS_DIR", str(tmp_path / "runs"))  # restored after the test
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    common = ["--corpus", "wikitext-2", "--rounds", "2", "--profile", "tiny", "--data", str(data)]
    common += ["--set", "train.max_steps=20", "--set", "train.eval_every=10"]
    try:
        for what in ("bootstrap", "control"):
            argv = ["run", *common, "--what", what, "--work", str(tmp_path / what)]
            loop.main([*argv, "--out", str(tmp_path / f"{what}.json")])
    finally:
        torch.set_num_threads(threads)
    b = json.loads((tmp_path / "bootstrap.json").read_text())
    c = json.loads((tmp_path / "control.json").read_text())
    assert [r["steps"] for r in b["rounds"]] == [20, 20] and b["rounds"][0]["moved_fraction"] > 0
    assert [p["step"] for p in b["curves"][1]] == [10, 20]
    assert [r["steps"] for r in c["rounds"]] == [40] and [p["step"] for p in c["curves"][0]] == [
        10,
        20,
        30,
        40,
    ]
    assert b["provenance"]["command"].startswith("python bench/loop.py run --corpus wikitext-2")
    assert 0 < b["moved_tokens"][0] <= 1 and b["moved_tokens"][1] is None
    assert all(0 <= x <= 1 for x in b["mates_kept"][0]) and b["mates_kept"][1] is None
    measured = {k: b[k] for k in ("moved_tokens", "mates_kept")}  # again from the store
    stripped = {k: v for k, v in b.items() if k not in ("run", *measured)}
    (tmp_path / "old.json").write_text(json.dumps(stripped))
    loop.main(["tokens", str(tmp_path / "old.json"), "--work", str(tmp_path / "bootstrap")])
    again = json.loads((tmp_path / "old.json").read_text())
    assert {k: again[k] for k in measured} == measured
    out = tmp_path / "loop.json"
    result = loop.main(
        [
            "report",
            str(tmp_path / "bootstrap.json"),
            str(tmp_path / "control.json"),
            "--out",
            str(out),
        ]
    )
    assert json.loads(out.read_text())["markdown"] == result["markdown"]
    table = result["markdown"].split("\n\n")[0].splitlines()
    assert (
        len(table) == 2 + 2 and table[3].split(" | ")[7] == f"{c['curves'][0][-1]['valid_ppl']:.1f}"
    )


def test_the_chosen_criterion_is_the_largest_whose_stop_costs_at_most_1_percent_anywhere() -> None:
    settles = boot([300.0, 240.0, 228.0, 225.0, 224.0, 223.0])  # round 4 stop costs 0.9%
    assert loop_report.chosen([settles]) == 0.05
    late = dict(boot([300.0, 250.0, 239.0, 228.0, 200.0, 199.0]), seed=1)  # 4.4%, 4.6%, 12%
    assert loop_report.stop(late, 0.05, None)["round"] == 3  # 20% above its best: too dear
    assert loop_report.chosen([settles, late]) == 0.04


def test_the_facts_give_each_seed_and_the_range_over_seeds() -> None:
    a = boot([300.0, 240.0, 228.0, 225.0, 224.0, 223.0]) | {"test_ppl": 220.0}
    b = dict(boot([300.0, 250.0, 239.0, 228.0, 200.0, 199.0]), seed=1) | {"test_ppl": 190.0}
    flat = [{"step": 600, "valid_ppl": 250.0}]  # the control stopped itself early
    control = run("control", [250.0], [None], [flat]) | {"rounds": [{"steps": 600}]}
    a["moved_tokens"] = [0.5, 0.4, 0.3, 0.2, 0.1, None]
    got = loop_report.facts({"runs": [a, b, control]})
    assert got["c/seeds"] == "2" and got["c/stops"] == ", ".join(
        f"{s['reason']}@{s['round']}"
        for s in (loop_report.stop(r, LOOP.min_valid_gain, 4) for r in (a, b))
    )
    assert (got["c/last_gain_min"], got["c/last_gain_max"]) == (
        "0.4%",
        "0.5%",
    )  # 1-223/224, 1-199/200
    assert (got["c/test_min"], got["c/test_max"]) == ("190.0", "220.0")
    assert (got["c/moved_tokens_min"], got["c/moved_tokens_max"]) == ("10.0%", "50.0%")
    assert got["c/seed0/control_steps"] == "600" and "c/seed1/control_steps" not in got
    assert (got["c/over_control_min"], got["c/over_control_max"]) == ("6.8%", "6.8%")  # 1-233/250
    assert (
        got["c/seed0/round2/gain"] == "20.0%"
        and got["min_valid_gain"] == f"{LOOP.min_valid_gain:.0%}"
    )
