"""The Prefect UI, checked in a real browser (headless Chromium): a tiny pipeline run against a
local server shows its flow run, its round subflows, the progress, round-table, status and
report artifacts, with their values. Screenshots go to $LIGHTRNN_UI_SCREENSHOTS when set (the
docs' come from there)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pipeline_helpers import REPO, tiny_run, wikitext_slice
from store_backends import new_store

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
FLAGS = [  # an offline machine: no background traffic, no sandbox (root), software rendering
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",
    "--window-size=1400,1000",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed here when missing (the tests need a real browser)."""
    found = shutil.which("chromium")
    if found is None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        done = subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        found = shutil.which("chromium")
        if found is None:
            pytest.fail(f"could not install Debian's chromium: {done.stderr[-2000:]}")
    return found


class Browser:
    def __init__(self, binary: str, base: str, profile: Path, shots: Path) -> None:
        self.binary, self.base, self.profile, self.shots = binary, base, profile, shots

    def text(self, path: str) -> str:
        """The page's visible text once its scripts have run."""
        dom = self._run(["--dump-dom", self.base + path])
        dom = re.sub(r"<script.*?</script>|<style.*?</style>", " ", dom, flags=re.S)
        return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", dom)).split())

    def screenshot(self, path: str, name: str) -> Path:
        out = self.shots / f"{name}.png"
        self._run([f"--screenshot={out}", self.base + path])
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        return out

    def _run(self, args: list[str]) -> str:
        done = subprocess.run(
            [self.binary, *FLAGS, f"--user-data-dir={self.profile}", *args],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout


def test_the_ui_shows_the_run_its_rounds_and_artifacts(prefect_api, chromium, tmp_path):
    from prefect.client.orchestration import get_client

    corpus = wikitext_slice(tmp_path / "ui-corpus", 300, 40)
    url = new_store(f"file://{tmp_path}/store")
    done = subprocess.run(
        tiny_run(corpus, url, "train.max_steps=30"),
        env=prefect_api.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    test_ppl = re.search(r"test ppl ([\d.]+)", done.stdout).group(1)
    run_key = re.search(r"LightRNN rounds \(run ([0-9a-f]+)\)", done.stdout).group(1)

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        (parent,) = [r for r in client.read_flow_runs() if r.name == "lightrnn-tiny-ui-corpus"]
        children = FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id]))
        runs = {r.name: r for r in client.read_flow_runs(flow_run_filter=children)}
        newest_last = sorted(client.read_artifacts(), key=lambda a: a.created)
        artifacts = {a.key: a for a in newest_last}  # the newest version of each key
    shots = Path(os.environ.get("LIGHTRNN_UI_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    browser = Browser(chromium, prefect_api.api_url.removesuffix("/api"), tmp_path / "p", shots)

    page = browser.text(f"/runs/flow-run/{parent.id}")
    assert "lightrnn-tiny-ui-corpus" in page and "Completed" in page and "lightrnn-pipeline" in page
    assert f"test perplexity {test_ppl}" in page  # the run's log, as the UI lists it
    browser.screenshot(f"/runs/flow-run/{parent.id}", "flow-run")

    listing = browser.text("/runs")
    assert "bootstrap-round round-1" in listing and "bootstrap-round round-2" in listing
    round1 = browser.text(f"/runs/flow-run/{runs['round-1'].id}")
    assert "Parent Run lightrnn-tiny-ui-corpus" in round1
    assert "round 1 of 2: step 20/30" in round1  # progress in the log: step, ppl, ETA
    browser.screenshot(f"/runs/flow-run/{runs['round-1'].id}", "round-subflow")

    progress = browser.text(f"/artifacts/artifact/{artifacts[f'train-{run_key}-round-1'].id}")
    assert "round 1 of 2: max_steps after 30 steps, valid ppl" in progress
    assert "Progress: 100%" in progress

    rounds = browser.text(f"/artifacts/artifact/{artifacts[f'rounds-{run_key}'].id}")
    assert "round steps train_ppl valid_ppl words_moved moved_pct" in rounds
    assert re.search(r" 1 30 [\d,.]+ [\d,.]+ [\d,]+ [\d.]+ ", rounds) and " 2 30 " in rounds
    browser.screenshot(f"/artifacts/artifact/{artifacts[f'rounds-{run_key}'].id}", "rounds-table")

    status = browser.text(f"/artifacts/artifact/{artifacts[f'status-{run_key}'].id}")
    assert "round 2 of at most 2 done" in status and "best validation perplexity so far" in status

    report = browser.text(f"/artifacts/artifact/{artifacts[f'report-{run_key}'].id}")
    assert f"test perplexity {test_ppl}" in report and "Stopped after round 2" in report
    assert f"runs/{run_key}/final" in report
    browser.screenshot(f"/artifacts/artifact/{artifacts[f'report-{run_key}'].id}", "report")
