"""S3-only behaviour, on the real SeaweedFS server: errors that say what to fix (and never show
a credential), and large files that stream through bounded memory as multipart uploads."""

from __future__ import annotations

import logging
import os
import time
import tracemalloc
from pathlib import Path

import pytest
from messages import assert_names
from ports import free_ports
from s3_server import S3Server

import storage
from storage.backends.objects import CHUNK
from storage.records.layout import blob_key

pytestmark = pytest.mark.s3


def test_server_enforces_auth(s3_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(storage.StoreAuthError):
        storage.open_store(s3_store_url, create=True)


def test_wrong_secret_names_the_store_and_the_fix_but_never_the_secret(
    s3_store_url: str,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    wrong = "wrong-secret-0123456789abcdef"
    caplog.set_level(logging.DEBUG)  # everything any library logs, botocore included
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)

    with pytest.raises(storage.StoreAuthError) as info:
        storage.open_store(s3_store_url, cache_dir=tmp_path, create=True)

    assert_names(info.value, s3_server.endpoint, s3_store_url, "(SignatureDoesNotMatch)")
    assert_names(info.value, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE")
    assert wrong not in caplog.text
    assert s3_server.secret_key not in caplog.text


def test_unknown_access_key(
    s3_store_url: str,
    s3_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN12345")

    with pytest.raises(storage.StoreAuthError) as info:
        storage.open_store(s3_store_url, create=True)

    assert "(InvalidAccessKeyId)" in str(info.value)
    assert "AKIDUNKNOWN12345" not in str(info.value)


def test_no_credentials_at_all(s3_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")

    with pytest.raises(storage.StoreAuthError) as info:
        storage.open_store(s3_store_url, create=True)

    assert_names(info.value, s3_store_url, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def test_unreachable_endpoint_fails_fast_with_the_fix(
    s3_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (port,) = free_ports(1)  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{port}")

    started = time.monotonic()
    with pytest.raises(storage.StoreConnectionError) as info:
        storage.open_store(s3_store_url, create=True)
    elapsed = time.monotonic() - started

    assert_names(info.value, f"http://127.0.0.1:{port}", s3_store_url, "AWS_ENDPOINT_URL_S3")
    assert elapsed < 10, f"took {elapsed:.1f} s to report a dead endpoint"


def test_missing_bucket(s3_env: S3Server) -> None:
    with pytest.raises(storage.StoreConnectionError) as info:
        storage.open_store("s3://no-such-bucket-lightrnn/prefix", create=True)

    bucket = "'no-such-bucket-lightrnn'"
    assert_names(info.value, bucket, s3_env.endpoint, "aws s3 mb s3://no-such-bucket-lightrnn")


def test_store_url_and_versions_carry_no_credentials(s3_store_url: str, s3_env: S3Server) -> None:
    store = storage.open_store(s3_store_url, create=True)
    version = store.put_bytes("a/b", "x.txt", b"x")

    text = " ".join([store.url, version.uri, repr(version), repr(store)])
    assert s3_env.secret_key not in text and s3_env.access_key not in text
    assert version.uri == f"{s3_store_url}/refs/a/b/v000001.json"


def test_large_file_streams_as_multipart_in_bounded_memory(
    s3_store_url: str, tmp_path: Path
) -> None:
    size = 8 * CHUNK  # 64 MiB: eight parts
    source = tmp_path / "weights.bin"
    block = os.urandom(2**20)
    with open(source, "wb") as f:
        for i in range(size // len(block)):
            f.write(i.to_bytes(4, "little") + block[4:])
    store = storage.open_store(s3_store_url, cache_dir=tmp_path / "cache", create=True)

    tracemalloc.start()
    try:
        version = store.put("runs/big/checkpoint", source)
        _, put_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fetched = storage.open_store(s3_store_url, cache_dir=tmp_path / "c2", create=True).get(
            version.name
        )
        _, get_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    sha = version.files["weights.bin"]["sha256"]
    info = store.objects.fs.info(store.objects.path(blob_key(sha)))
    assert info["size"] == size
    assert info["ETag"].strip('"').endswith("-8")  # S3's mark of an 8-part multipart upload
    assert put_peak < 5 * CHUNK, f"put held {put_peak / 2**20:.0f} MiB"
    assert get_peak < 5 * CHUNK, f"get held {get_peak / 2**20:.0f} MiB"
    assert fetched.stat().st_size == size
    with open(source, "rb") as a, open(fetched, "rb") as b:
        while chunk := a.read(CHUNK):
            assert chunk == b.read(CHUNK)


def test_gc_aborts_multipart_uploads_a_killed_writer_left(s3_store_url: str) -> None:
    store = storage.open_store(s3_store_url, create=True)
    store.put_bytes("a/b", "x.txt", b"x")
    objects = store.objects
    bucket, _, prefix = objects.root.partition("/")
    key = f"{prefix}/blobs/sha256/ab/{'c' * 62}"
    upload = objects.fs.call_s3("create_multipart_upload", Bucket=bucket, Key=key)
    objects.fs.call_s3(
        "upload_part", Bucket=bucket, Key=key, PartNumber=1, UploadId=upload["UploadId"], Body=b"p"
    )

    assert store.gc(keep_last=1, grace_seconds=3600).swept == ()
    assert store.gc(keep_last=1, grace_seconds=0, dry_run=True).swept == (
        f"blobs/sha256/ab/{'c' * 62} (multipart upload)",
    )
    assert store.gc(keep_last=1, grace_seconds=0).swept == (
        f"blobs/sha256/ab/{'c' * 62} (multipart upload)",
    )
    listed = objects.fs.call_s3("list_multipart_uploads", Bucket=bucket, Prefix=f"{prefix}/")
    assert listed.get("Uploads", []) == []
    assert store.read_bytes("a/b") == b"x"


def test_store_at_the_root_of_a_bucket(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = f"lightrnn-root-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    storage.open_store(f"s3://{s3_env.bucket}", create=True).objects.fs.mkdir(bucket)
    store = storage.open_store(f"s3://{bucket}", cache_dir=tmp_path, create=True)

    version = store.put_bytes("a/b", "x.txt", b"root")

    assert store.url == f"s3://{bucket}"
    assert version.uri == f"s3://{bucket}/refs/a/b/v000001.json"
    assert store.get("a/b").read_bytes() == b"root"
    assert store.names() == ["a/b"]
    assert store.gc(keep_last=1, grace_seconds=0).deleted_versions == ()
