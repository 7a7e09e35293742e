"""Pytest plugin: a real local Prefect server for the pipeline tests, started once per session.

Temporary PREFECT_HOME, a free loopback port; every flow in the session (in process or in a
subprocess) talks to it, so no test pays for an ephemeral server of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ports import free_port

VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a subprocess that should use this server."""
        env = dict(os.environ)
        env.update(
            PREFECT_API_URL=self.api_url,
            PREFECT_HOME=str(self.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            OMP_NUM_THREADS="1",
            PREFECT_LOGGING_LEVEL="INFO",
        )
        env.update(extra)
        return env


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home)
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(
        [str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=server.env(PREFECT_API_URL="", PREFECT_UI_API_URL=server.api_url),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(
                "the Prefect server did not start: " + (home / "server.log").read_text()[-3000:]
            )
        time.sleep(0.5)
    yield server
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # send the session's last logs while the server is up
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    log.close()


@pytest.fixture
def prefect_api(prefect_server: PrefectServer) -> Iterator[PrefectServer]:
    """Flows run in this process report to the session's server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: prefect_server.api_url}):
        yield prefect_server


@dataclass(frozen=True)
class RunRecord:
    """A finished flow run as the API holds it: its state, and every log line of the run and its
    task runs, oldest first, as (level, message) pairs."""

    state: str
    message: str
    logs: list[tuple[int, str]]

    def errors(self) -> list[str]:
        return [text for level, text in self.logs if level >= 40]


def finished_run(api_url: str, flow_run_id: str, timeout: float = 600) -> RunRecord:
    """Wait until the flow run is final and its last log line ("Finished in state ...") has
    arrived, then read it back through the API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort
    from prefect.settings import PREFECT_API_URL, temporary_settings

    only_this = LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
    deadline = time.monotonic() + timeout
    with (
        temporary_settings(updates={PREFECT_API_URL: api_url}),
        get_client(sync_client=True) as client,
    ):
        while True:
            run = client.read_flow_run(flow_run_id)
            logs = client.read_logs(only_this, sort=LogSort.TIMESTAMP_ASC)
            done = any(not g.task_run_id and g.message.startswith("Finished in") for g in logs)
            if run.state is not None and run.state.is_final() and done:
                time.sleep(2)  # any line logged after it (an exit code) has arrived too
                logs = client.read_logs(only_this, sort=LogSort.TIMESTAMP_ASC)
                return RunRecord(
                    run.state.name,
                    run.state.message or "",
                    [(log.level, log.message) for log in logs],
                )
            if time.monotonic() > deadline:
                state = run.state.name if run.state else None
                raise TimeoutError(f"flow run {flow_run_id} still {state} after {timeout} s")
            time.sleep(1)
