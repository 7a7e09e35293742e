"""Every results file's generated text is what today's code makes of its rows: a change to a
target, a table or a default of the stopping rule shows up here, not in a stale document."""

import json
from pathlib import Path

import pytest

from bench import loop_report, quality_report
from tasks.settings import PipelineConfig

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
QUALITY = sorted(RESULTS.glob("quality*.json"))
LOOPS = sorted(RESULTS.glob("loop*.json"))


@pytest.mark.parametrize("path", QUALITY, ids=lambda p: p.name)
def test_a_quality_file_says_what_its_rows_give_today(path: Path) -> None:
    saved = json.loads(path.read_text())
    found = quality_report.targets(saved["results"])
    assert found == saved["targets"]
    assert quality_report.document(saved["results"], found) == saved["markdown"]


@pytest.mark.parametrize("path", LOOPS, ids=lambda p: p.name)
def test_a_loop_file_says_what_its_runs_give_today(path: Path) -> None:
    saved = json.loads(path.read_text())
    assert loop_report.targets(saved["runs"]) == saved["targets"]
    assert loop_report.markdown(saved["runs"]) == saved["markdown"]


def test_the_default_criterion_is_the_one_the_pipelines_measured_rounds_support() -> None:
    """loop-cpu.json (three seeds per corpus, the `demo` profile's rounds) sets the default;
    other loop files (one seed of longer rounds) are reported beside it."""
    saved = json.loads((RESULTS / "loop-cpu.json").read_text())
    assert PipelineConfig().min_valid_gain == loop_report.chosen(saved["runs"])
