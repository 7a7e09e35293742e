"""The study scripts (bench/quality_*.sh, bench/loop.sh) share one step runner; a study resumes
at a step, or runs a range of steps (one lane of a study run side by side)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((ROOT / "bench").glob("quality_*.sh"))
LANES = [ROOT / "bench" / "loop.sh"]  # steps run in lanes: `loop.sh 1 4`


def steps_from(start: str) -> list[str]:
    script = (
        '. bench/study_steps.sh; Q=(printf "ran %s|%s\\n"); steps=("--a 1" "--b 2,3" "--c"); '
        f"run_steps {start}"
    )
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_run_steps_runs_each_step_as_separate_words_from_the_one_asked():
    out = steps_from("2")
    assert [line for line in out if line.startswith("ran")] == ["ran --b|2,3", "ran --c|"]
    assert [line.split(" (")[0] for line in out if line.startswith("===")] == [
        "=== step 2: --b 2,3",
        "=== step 3: --c",
    ]
    assert len([line for line in steps_from("") if line.startswith("ran")]) == 3
    only = [line for line in steps_from("2 2") if line.startswith("ran")]
    assert only == ["ran --b|2,3"]  # from step 2 to step 2


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_each_study_script_uses_the_shared_runner_and_parses(script):
    text = script.read_text()
    assert ". bench/study_steps.sh" in text and 'run_steps "${1:-1}"' in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0


@pytest.mark.parametrize("script", LANES, ids=lambda p: p.name)
def test_each_lane_script_runs_its_steps_with_the_shared_runner_and_parses(script):
    text = script.read_text()
    assert ". bench/study_steps.sh" in text and 'run_steps "$step" "$step"' in text
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
