"""Transient S3 failures (endpoint down, timeouts, 5xx, SlowDown) are told apart from permanent
ones (auth, not found, bad input, integrity), retried with backoff within a time budget, and only
then raised as `StoreUnavailableError` naming the store and the fix. Permanent errors never wait.
The outage tests stop and restart a real SeaweedFS server of their own."""

from __future__ import annotations

import errno
import itertools
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from s3_server import RestartableS3

import storage
from storage.backends.retry import RetryPolicy
from storage.backends.urls import open_objects


# -- classification, without a server -------------------------------------------------------
def client_error(code: str, status: int) -> OSError:
    """What s3fs raises for an S3 error response: an OSError caused by botocore's ClientError."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    response = {
        "Error": {"Code": code, "Message": "m"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return translate_boto_error(ClientError(response, "PutObject"))


def transport_error(kind: str) -> BaseException:
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

    return {
        "refused": EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        "closed": ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
        "read-timeout": ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
        "reset": ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
        "timeout": TimeoutError("timed out"),
    }[kind]


def translated(exc: BaseException) -> BaseException:
    objects = open_objects("s3://bucket/prefix", env={"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"})
    try:
        with objects.errors("blobs/sha256/ab/cd"):
            raise exc
    except BaseException as out:  # the translation is what we look at
        return out
    raise AssertionError("not raised")


@pytest.mark.parametrize(
    "exc",
    [
        client_error("SlowDown", 503),
        client_error("ServiceUnavailable", 503),
        client_error("InternalError", 500),
        client_error("502", 502),
        client_error("504", 504),
        client_error("RequestTimeout", 400),
        client_error("TooManyRequests", 429),
        *(transport_error(k) for k in ("refused", "closed", "read-timeout", "reset", "timeout")),
    ],
    ids=lambda e: type(e).__name__ + ":" + str(e)[:20],
)
def test_transient_failures_get_their_own_type(exc: BaseException) -> None:
    error = translated(exc)
    assert isinstance(error, storage.StoreUnavailableError)
    assert isinstance(error, storage.StoreConnectionError)
    assert error.transient is True
    assert "s3://bucket/prefix" in str(error)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (client_error("AccessDenied", 403), storage.StoreAuthError),
        (client_error("SignatureDoesNotMatch", 403), storage.StoreAuthError),
        (client_error("InvalidArgument", 400), storage.StoreError),
        (client_error("NoSuchBucket", 404), storage.StoreConnectionError),
    ],
)
def test_permanent_failures_are_not_transient(exc: BaseException, kind: type) -> None:
    error = translated(exc)
    assert type(error) is kind
    assert not isinstance(error, storage.StoreUnavailableError)
    assert getattr(error, "transient", False) is False


def test_not_found_stays_a_missing_key() -> None:
    assert isinstance(translated(client_error("NoSuchKey", 404)), FileNotFoundError)


# -- the retry policy -----------------------------------------------------------------------
def flaky(failures: int, error: Exception) -> tuple[list[float], Callable[[], str]]:
    """(times of the calls, a function failing with `error` for its first `failures` calls)."""
    calls: list[float] = []

    def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) <= failures:
            raise error
        return "done"

    return calls, attempt


def test_transient_failures_are_retried_with_growing_waits() -> None:
    calls, attempt = flaky(3, storage.StoreUnavailableError("endpoint down"))
    policy = RetryPolicy(budget_seconds=10, first_delay=0.05, max_delay=1)

    assert policy.run(attempt, "s3://b/p") == "done"

    waits = [b - a for a, b in itertools.pairwise(calls)]
    assert len(calls) == 4
    assert waits[0] >= 0.04 and waits[2] > waits[0] * 2


@pytest.mark.parametrize(
    "error",
    [
        storage.StoreAuthError("denied"),
        storage.IntegrityError("damaged"),
        storage.NotFoundError("no such thing"),
        storage.InvalidInputError("bad"),
        storage.StoreError("something else"),
        FileNotFoundError("missing key"),
    ],
)
def test_permanent_failures_are_never_retried(error: Exception) -> None:
    calls, attempt = flaky(1, error)
    with pytest.raises(type(error)):
        RetryPolicy(budget_seconds=10, first_delay=0.01).run(attempt, "s3://b/p")
    assert len(calls) == 1


def test_the_budget_ends_with_the_transient_error_and_the_fix() -> None:
    _, attempt = flaky(10**6, storage.StoreUnavailableError("connection to X failed: start it"))
    started = time.monotonic()
    with pytest.raises(storage.StoreUnavailableError) as info:
        RetryPolicy(budget_seconds=0.5, first_delay=0.05, max_delay=0.1).run(attempt, "s3://b/p")
    assert 0.5 <= time.monotonic() - started < 1.5
    assert str(info.value).startswith("connection to X failed: start it")
    assert re.search(r"retried for [01]\.\d s, \d+ attempt\(s\)", str(info.value))
    assert "retries for 0.5 s: set LIGHTRNN_STORE_RETRY_SECONDS" in str(info.value)
    assert info.value.transient is True


def test_a_budget_of_zero_tries_once() -> None:
    calls, attempt = flaky(1, storage.StoreUnavailableError("down"))
    with pytest.raises(storage.StoreUnavailableError):
        RetryPolicy(budget_seconds=0).run(attempt, "s3://b/p")
    assert len(calls) == 1


def test_retry_seconds_is_checked(tmp_path: Path) -> None:
    with pytest.raises(storage.InvalidInputError, match="retry_seconds=-1"):
        storage.open_store(tmp_path.as_uri(), retry_seconds=-1, create=True)


# -- a real server going down and coming back -----------------------------------------------


@pytest.mark.s3
@pytest.mark.slow
def test_a_run_rides_out_the_server_being_down(
    restartable_s3: RestartableS3, tmp_path: Path
) -> None:
    """A put, a get through an empty cache and a gc, all started while the server is down
    (for ~15 s), all finish once it is back, with the default retry budget (90 s)."""
    url = restartable_s3.url("outage")
    store = storage.open_store(url, cache_dir=tmp_path / "cache", create=True)
    store.put_bytes("runs/r/checkpoint", "c.bin", b"before the outage")
    data = bytes(range(256)) * 4000
    reader = storage.open_store(url, cache_dir=tmp_path / "reader-cache", create=True)

    restartable_s3.stop()
    down = time.monotonic()
    work = {
        "put": Outcome(lambda: store.put_bytes("runs/r/checkpoint", "c.bin", data)),
        "get": Outcome(lambda: reader.get("runs/r/checkpoint", 1).read_bytes()),
        "gc": Outcome(lambda: store.gc(keep_last=5, grace_seconds=0)),
    }
    time.sleep(15)
    assert all(w.is_alive() for w in work.values()), "gave up while the server was down"
    restartable_s3.start()
    outage = time.monotonic() - down

    version = work["put"].result()
    assert work["get"].result() == b"before the outage"
    assert work["gc"].result().deleted_versions == ()
    finished = time.monotonic() - down
    took = ", ".join(f"{k} {w.done - down:.1f} s" for k, w in work.items())
    assert isinstance(version, storage.Version) and version.number == 2
    fresh = storage.open_store(url, cache_dir=tmp_path / "fresh", create=True)
    assert fresh.read_bytes("runs/r/checkpoint") == data
    assert [v.number for v in fresh.versions("runs/r/checkpoint")] == [1, 2]
    print(f"server down {outage:.1f} s; all done {finished:.1f} s after it stopped ({took})")


class Outcome(threading.Thread):
    """fn() in a thread; `result()` returns its value or raises what it raised."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn, self.value, self.error, self.done = fn, None, None, 0.0
        self.start()

    def run(self) -> None:
        try:
            self.value = self.fn()
        except BaseException as exc:  # re-raised by result()
            self.error = exc
        self.done = time.monotonic()

    def result(self) -> Any:
        self.join(timeout=120)
        assert not self.is_alive(), "did not finish within 120 s of the restart"
        if self.error is not None:
            raise self.error
        return self.value


@pytest.mark.s3
@pytest.mark.slow
def test_a_server_down_for_good_fails_after_the_budget_with_the_fix(
    restartable_s3: RestartableS3, tmp_path: Path
) -> None:
    url = restartable_s3.url("gone")
    store = storage.open_store(url, cache_dir=tmp_path / "cache", retry_seconds=3, create=True)
    store.put_bytes("a", "x.bin", b"x")
    restartable_s3.stop()

    started = time.monotonic()
    with pytest.raises(storage.StoreUnavailableError) as info:
        store.put_bytes("a", "x.bin", b"y")
    elapsed = time.monotonic() - started

    message = str(info.value)
    assert 3 <= elapsed < 20, elapsed
    assert info.value.transient is True
    assert url in message and restartable_s3.server.endpoint in message
    assert "start the server" in message and "retries for 3 s" in message
    assert restartable_s3.server.secret_key not in message


@pytest.mark.s3
def test_permanent_s3_errors_do_not_wait_for_the_budget(s3_store_url: str, tmp_path: Path) -> None:
    store = storage.open_store(
        s3_store_url, cache_dir=tmp_path / "c", retry_seconds=60, create=True
    )
    store.put_bytes("a", "x.bin", b"0123456789")
    (blob,) = [e.key for e in store.objects.list("blobs/")]
    store.objects.write(blob, b"9123456789")

    started = time.monotonic()
    with pytest.raises(storage.NotFoundError):
        store.resolve("no/such/name")
    with pytest.raises(storage.IntegrityError):
        storage.open_store(
            s3_store_url, cache_dir=tmp_path / "c2", retry_seconds=60, create=True
        ).get("a")
    assert time.monotonic() - started < 5


@pytest.mark.s3
def test_an_endpoint_never_reached_fails_fast_as_unavailable(
    s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ports import free_ports

    (port,) = free_ports(1)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(storage.StoreUnavailableError):
        storage.open_store(s3_store_url, retry_seconds=60, create=True)
    assert time.monotonic() - started < 10  # a wrong endpoint is a setup error: said at once
