"""A corpus URL that carries a secret: the run reads it, and the secret appears nowhere else:
not in the terminal, the logs, the store (manifests, reports, corpus manifests), Prefect's flow
run parameters, logs or artifacts, nor in an error message."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pipeline_helpers import REPO, wikitext_slice
from store_backends import new_store

from lightrnn.corpus.inputs import shown

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
SECRET = "pa55-Wd-7f3kq9"
USER = "reader"
LIGHTRNN = str(Path(sys.executable).parent / "lightrnn")


class AuthHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the directory only to requests that carry the right basic-auth credentials."""

    expected = "Basic " + base64.b64encode(f"{USER}:{SECRET}".encode()).decode()

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def served(tmp_path):
    wikitext_slice(tmp_path / "www" / "corpus", 200, 30)
    handler = functools.partial(AuthHandler, directory=str(tmp_path / "www"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://{USER}:{SECRET}@127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_the_shown_form_of_a_url_hides_userinfo_and_secret_parameters():
    assert shown(f"s3://{USER}:{SECRET}@bucket/x") == "s3://***@bucket/x"
    url = f"https://h/x.txt?X-Amz-Signature={SECRET}&token={SECRET}&part=2"
    assert shown(url) == "https://h/x.txt?X-Amz-Signature=***&token=***&part=2"


def test_a_secret_in_the_corpus_url_never_leaks(prefect_api, served, tmp_path):
    prefect_server = prefect_api
    store = tmp_path / "store"
    url = new_store(f"file://{store}")
    args = ["--profile", "tiny", "--store", url, "--set", "train.max_steps=10"]
    args += ["--set", "train.eval_every=5", "--set", "costs.max_tokens=2000"]
    done = subprocess.run(
        [LIGHTRNN, "run", "--corpus", f"{served}/corpus/", *args],
        env=prefect_server.env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "stopped:" in done.stdout  # it read the corpus: the server checked the credentials
    assert SECRET not in done.stdout + done.stderr
    for path in store.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

    missing = subprocess.run(
        [LIGHTRNN, "run", "--corpus", f"{served}/nothing-here/", *args],
        env=prefect_server.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2 and missing.stderr.strip().splitlines()[-1].startswith("error:")
    assert SECRET not in missing.stdout + missing.stderr

    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        artifacts = client.read_artifacts()
        logs, page = [], None
        while page is None or page:
            page = client.read_logs(limit=200, offset=len(logs))
            logs += page
    seen = json.dumps(
        [r.model_dump(mode="json") for r in runs]
        + [entry.model_dump(mode="json") for entry in logs]
        + [a.model_dump(mode="json") for a in artifacts]
    )
    assert f"{USER}:***@127.0.0.1" in seen or "***@127.0.0.1" in seen  # the runs are there
    assert SECRET not in seen
