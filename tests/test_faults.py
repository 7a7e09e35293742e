"""bench/faults.py, small: the pipeline killed with SIGKILL while committing a checkpoint and
while reallocating, re-run each time: the re-run reuses what was done and ends with the very
weights and table of an uninterrupted run (the full 20-kill table is in docs/reliability.md)."""

from __future__ import annotations

import json

import pytest

from bench import faults

pytestmark = [pytest.mark.slow, pytest.mark.prefect]


def test_killed_pipelines_rerun_to_the_uninterrupted_result(tmp_path):
    out = tmp_path / "faults.json"
    result = faults.main(
        ["--moments", "checkpoint:2,reallocate:1", "--train-lines", "400", "--out", str(out)]
    )
    rows = result["rows"]
    assert [r["moment"] for r in rows] == ["checkpoint #2", "reallocate #1"]
    assert all(r["killed"] and r["rerun_exit"] == 0 and r["equal"] for r in rows)
    assert "resumed round 1 at step 20" in rows[0]["reused"]
    assert "train-round" in rows[1]["reused"] and "accumulate-costs" in rows[1]["reused"]
    assert result["all_equal"] and json.loads(out.read_text())["passes"]["reallocate"] == 1
