"""Scheduling as documented: the commands of scripts/schedule.sh, run verbatim against a real
Prefect server and a real process worker, then failed deployment runs read back through the API.

The only differences from a user's machine: the server listens on a free port instead of 4200,
PREFECT_HOME and the default store (XDG_DATA_HOME) are temporary, and the worker polls every
two seconds. `make install` and `source .venv/bin/activate` are the test's own set-up (it runs in
the venv already; `make install` could reinstall it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pipeline_helpers import REPO
from ports import free_port
from prefect_server import VENV_BIN, finished_run

import storage

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
SCRIPT = REPO / "scripts" / "schedule.sh"
SET_UP = ["make install", "source .venv/bin/activate"]


def commands(script: Path = SCRIPT) -> list[str]:
    """The script's commands, one per entry: continuations joined, comments and blanks dropped."""
    joined = script.read_text().replace("\\\n", " ")
    lines = [ln.split("  #")[0].strip() for ln in joined.splitlines()]
    return [" ".join(ln.split()) for ln in lines if ln and not ln.startswith(("#", "set "))]


@dataclass(frozen=True)
class Scheduled:
    api_url: str
    env: dict[str, str]
    store: str
    output: str


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduled]:
    """The documented commands, after the set-up ones, in one shell: server, pools, deployments,
    a worker left running, and the `train` run they end with."""
    listed = commands()
    assert listed[:2] == SET_UP, listed[:2]
    home = tmp_path_factory.mktemp("schedule")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "VIRTUAL_ENV": str(VENV_BIN.parent),
        "PREFECT_HOME": str(home / "prefect"),
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_API_URL": api_url,
        "PREFECT_WORKER_QUERY_SECONDS": "2",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "XDG_DATA_HOME": str(home / "data"),
        "OMP_NUM_THREADS": "1",
        # An S3 endpoint that is down, for the run that names an s3:// store; file stores ignore it.
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "LIGHTRNN_STORE_RETRY_SECONDS": "2",
    }
    script = "set -euo pipefail\n" + "\n".join(
        c.replace("127.0.0.1:4200", f"127.0.0.1:{port}") for c in listed[2:]
    )
    log = home / "schedule.log"
    with open(log, "wb") as out:
        shell = subprocess.Popen(
            ["bash", "-x", "-c", script],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # the server and worker it leaves running go with its group
        )
    try:
        rc = shell.wait(timeout=900)
        output = log.read_text()
        assert rc == 0, output[-6000:]
        yield Scheduled(api_url, env, f"file://{home}/data/lightrnn-flow/store", output)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(shell.pid, signal.SIGKILL)


def test_the_documented_commands_deploy_and_run_the_pipeline(scheduled):
    assert "Flow run finished successfully in 'Completed'" in scheduled.output or re.search(
        r"finished .*Completed", scheduled.output
    ), scheduled.output[-3000:]
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    named = {d["work_pool"]["name"] for d in spec["deployments"]}
    with (
        temporary_settings(updates={PREFECT_API_URL: scheduled.api_url}),
        get_client(sync_client=True) as client,
    ):
        pools = {p.name for p in client.read_work_pools()}
        deployments = {d.name: d for d in client.read_deployments()}
    assert named <= pools, f"prefect.yaml names pools {named}; the commands create {pools}"
    assert set(deployments) == {d["name"] for d in spec["deployments"]}
    multi, nightly = deployments["train-multi-gpu"], deployments["nightly-retrain"]
    assert multi.work_pool_name == "gpu" and multi.parameters["overrides"]["launch.nproc"] == 8
    assert nightly.parameters["stable_name"] == "stable/nightly"
    assert [s.schedule.cron for s in nightly.schedules] == ["0 2 * * *"]
    store = storage.open_store(scheduled.store)
    (report,) = [n for n in store.names("runs/") if n.endswith("/report")]
    summary = store.resolve(report).meta["summary"]
    assert summary["profile"] == "tiny"
    assert summary["rounds"][0]["steps"] == 30  # the JSON form of overrides took effect


def cp1252_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.txt").write_bytes(b"the cafe\nthe caf\xe9 is open\n")
    for split in ("valid", "test"):
        (root / f"{split}.txt").write_text("the cafe\n")
    return root


# Each failure as a deployment run's parameters, and the facts its one ERROR line must hold:
# the input at fault and the fix.
FAILURES = {
    "a float step count": (
        ["profile=tiny", 'overrides={"train.max_steps": 2.5}'],
        ["train.max_steps=2.5", "must be an integer"],
    ),
    "an unknown profile": (["profile=huge"], ["unknown profile 'huge'", "choose one of tiny"]),
    "a missing corpus": (
        ["profile=tiny", "corpus=/nonexistent/corpus"],
        ["'/nonexistent/corpus' does not exist", "pass a directory holding train.txt"],
    ),
    "an S3 endpoint that is down": (
        ["profile=tiny", "store=s3://bucket/lightrnn"],
        ["http://127.0.0.1:9", "start the server or fix AWS_ENDPOINT_URL_S3"],
    ),
    "a corpus that is not UTF-8": (
        ["profile=tiny", "corpus={cp1252}"],
        ["train.txt' is not valid UTF-8", "iconv -f latin1 -t utf-8", "encoding_errors"],
    ),
}


def test_known_failures_end_a_deployment_run_as_one_line(scheduled, tmp_path):
    corpus = cp1252_corpus(tmp_path / "cp1252")
    runs = {}
    for case, (params, _) in FAILURES.items():
        args = [a for p in params for a in ("--param", p.replace("{cp1252}", str(corpus)))]
        runs[case] = trigger(scheduled, *args)
    for case, (_, facts) in FAILURES.items():
        run = finished_run(scheduled.api_url, runs[case], timeout=600)
        where = f"{case}: {run.state} {run.message!r}\n" + "\n".join(t for _, t in run.logs)
        assert run.state == "Failed", where
        assert all(fact in run.message for fact in facts), where
        (error,) = run.errors() or [""]
        assert len(run.errors()) == 1 and error == run.message, where
        assert not any("Traceback" in text for _, text in run.logs), where


def trigger(scheduled: Scheduled, *params: str) -> str:
    """Start a run of the `train` deployment as a user would; its flow run id."""
    done = subprocess.run(
        [str(VENV_BIN / "prefect"), "deployment", "run", "lightrnn-pipeline/train", *params],
        cwd=REPO,
        env=scheduled.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"UUID: ([0-9a-f-]{36})", done.stdout)
    assert found, done.stdout
    return found.group(1)


def test_the_docs_show_the_same_commands():
    """docs/scheduling.md shows the script itself (a snippet include) or each of its commands."""
    page = REPO / "docs" / "scheduling.md"
    if not page.exists():
        pytest.skip("docs/scheduling.md is not written yet")
    text = " ".join(page.read_text().replace("\\\n", " ").split())
    if "scripts/schedule.sh" in text and "--8<--" in text:
        return
    missing = [c for c in commands() if c not in text]
    assert not missing, f"docs/scheduling.md lacks these commands of scripts/schedule.sh: {missing}"


def test_the_script_is_valid_shell():
    done = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert shlex.split(commands()[-1])[:3] == ["prefect", "deployment", "run"]
