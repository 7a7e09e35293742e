"""A round's result and the convergence decision: typed values Prefect persists as JSON."""

from __future__ import annotations

import json

import pytest
from prefect.serializers import JSONSerializer

from flows.profiles import resolve
from lightrnn.bootstrap import Decision, RoundStats
from tasks.convergence import check_convergence_task
from tasks.refs import CorpusInfo, ModelInfo, Reallocation, Ref
from tasks.rounds import RoundResult, best_result, round_result, run_summary

CORPUS = CorpusInfo(
    Ref("corpora/abc", 1, "file:///s/refs/corpora/abc/v000001.json"),
    "abc",
    1_000,
    {"train": 5_000, "valid": 500, "test": 500},
    {"tokenizer": "whitespace", "lowercase": False},
)


def model(round_index: int, valid_ppl: float) -> ModelInfo:
    ref = Ref(f"runs/r/round-{round_index}/model", 1, f"file:///m{round_index}")
    return ModelInfo(ref, 60, "max_steps", 900.0, valid_ppl, 1234.5, 3.0, 21_188)


def rounds() -> list[RoundResult]:
    moved = Reallocation(
        Ref("runs/r/round-1/model-v1/table-next", 1),
        Ref("runs/r/round-1/model-v1/costs", 1),
        {
            "moved_fraction": 0.0714,
            "words_moved": 683,
            "objective_before": 200.0,
            "objective_after": 150.0,
        },
    )
    first = round_result(1, model(1, 663.0), {"ppl": 663.06}, Ref("tables/t", 1), moved, 19.95)
    last = round_result(2, model(2, 483.0), {"ppl": 483.56}, moved.table, None, 4.28)
    return [first, last]


def test_a_round_result_holds_its_numbers_and_refs():
    first, last = rounds()
    assert first.row() == {
        "round": 1,
        "steps": 60,
        "train_ppl": 900.0,
        "valid_ppl": 663.06,
        "words_moved": 683,
        "moved_pct": 100.0 * 0.0714,
        "moved_fraction": 0.0714,
        "objective_before": 200.0,
        "objective_after": 150.0,
        "objective_gain": 0.25,
        "seconds": 19.95,
        "tokens_per_s": 1234.5,
        "parameters": 21_188,
        "train_stop": "max_steps",
    }
    assert list(first.refs()) == ["table", "model", "costs", "next_table"]
    assert last.refs() == {"table": first.next_table, "model": last.model}
    assert last.stats() == RoundStats(2, 483.56, None, None)
    assert last.display()["model"] == last.model and last.display()["costs"] is None


@pytest.mark.parametrize(
    "value", [*rounds(), Decision(True, "max_rounds", 2), Decision(False, "continue", 1)]
)
def test_prefect_persists_results_and_decisions_as_json_and_reads_them_back(value):
    data = JSONSerializer().dumps(value)
    assert json.loads(data)["__class__"] == f"{type(value).__module__}.{type(value).__name__}"
    assert JSONSerializer().loads(data) == value


def test_the_decision_picks_the_best_round_for_the_summary():
    results = rounds()
    decision = check_convergence_task.fn(results, resolve("tiny").pipeline)
    assert decision == Decision(True, "max_rounds", 2)
    assert best_result(results, decision) is results[1]
    summary = run_summary(
        "r", resolve("tiny"), CORPUS, results, decision, {"ppl": 431.95}, "file:///s", 30.0
    )
    assert (summary["stop_reason"], summary["converged"], summary["best_round"]) == (
        "max_rounds",
        False,
        2,
    )
    assert summary["best_model"] == results[1].model and summary["valid_ppl"] == 483.56
    assert summary["rounds"] == [r.row() for r in results]
    assert json.dumps(summary["rounds"])  # no refs in the rows
    assert list(summary["artifacts"]) == [
        "corpus",
        "round 1 table",
        "round 1 model",
        "round 1 costs",
        "round 1 next table",
        "round 2 table",
        "round 2 model",
    ]
    assert summary["artifacts"]["round 2 model"] == "file:///m2"
