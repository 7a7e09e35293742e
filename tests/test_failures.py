"""A known failure is one line everywhere: a flow run's state message and its one ERROR log line
(read back through a real Prefect server), and the `lightrnn` command's one `error:` line; an
unexpected error keeps its traceback."""

from __future__ import annotations

import subprocess

import pytest
from pipeline_helpers import LIGHTRNN
from prefect import flow, task
from prefect_server import finished_run

import storage
from flows.failures import one_line_failures
from lightrnn.errors import ConfigError

pytestmark = [pytest.mark.prefect]
BAD_LR = "train.lr=-1: must be positive; pass a learning rate such as 0.01"


@task
def check_lr(lr: float) -> float:
    if lr <= 0:
        raise ConfigError(BAD_LR)
    if lr > 1e6:
        raise RuntimeError("a bug: this learning rate was never meant to reach here")
    return lr


@flow(name="failures-probe")
@one_line_failures
def probe(lr: float) -> float:
    return check_lr(lr)


def test_a_known_failure_in_a_task_ends_the_run_as_one_line(prefect_api):
    with pytest.raises(ConfigError, match=r"train\.lr=-1"):  # a direct call raises it as ever
        probe(-1.0)
    state = probe(-1.0, return_state=True)
    run = finished_run(prefect_api.api_url, str(state.state_details.flow_run_id))
    assert (run.state, run.message) == ("Failed", BAD_LR)
    assert run.errors() == [BAD_LR], run.logs
    assert not any("Traceback" in text for _, text in run.logs), run.logs


def test_an_unexpected_error_keeps_its_traceback(prefect_api):
    state = probe(1e9, return_state=True)
    run = finished_run(prefect_api.api_url, str(state.state_details.flow_run_id))
    assert run.state == "Failed" and "a bug" in run.message
    tracebacks = [text for _, text in run.logs if "Traceback" in text]
    assert tracebacks and "RuntimeError: a bug" in tracebacks[-1]


@pytest.mark.slow
def test_cli_prints_a_corpus_error_found_inside_the_flow_as_one_line(prefect_server, tmp_path):
    corpus = tmp_path / "cp1252"
    corpus.mkdir()
    (corpus / "train.txt").write_bytes(b"the cafe\nthe caf\xe9 is open\n")
    for split in ("valid", "test"):
        (corpus / f"{split}.txt").write_text("the cafe\n")
    url = f"file://{tmp_path}/store"
    storage.init_store(url)
    done = subprocess.run(
        [LIGHTRNN, "run", "--corpus", str(corpus), "--profile", "tiny", "--store", url],
        env=prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    errors = [ln for ln in done.stderr.splitlines() if ln.startswith("error: ")]
    expected = f"error: corpus file '{corpus / 'train.txt'}' is not valid UTF-8: byte(s) b'\\xe9'"
    assert len(errors) == 1 and errors[0].startswith(expected), done.stderr
    assert "iconv -f latin1 -t utf-8" in errors[0] and "encoding_errors" in errors[0]
    logged = [ln for ln in done.stderr.splitlines() if "| ERROR" in ln]
    assert len(logged) == 1 and logged[0].endswith(errors[0].removeprefix("error: ")), logged


def test_known_types_cover_every_domain_error():
    from flows.failures import is_known

    for exc in (
        ConfigError("x"),
        storage.StoreUnavailableError("x"),
        storage.LeaseHeldError("x"),
        storage.StoreAuthError("x"),
    ):
        assert is_known(exc)
    assert not is_known(RuntimeError("x")) and not is_known(KeyError("x"))
