"""`storage.redact_url` strips credentials from any URL (userinfo, and the values of parameters
that look like secrets); every storage error and log message goes through the same rules."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

import storage
from storage.redact import get_logger, redact

SIGNED = (
    "https://bucket.s3.amazonaws.com/corpus/wiki.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request"
    "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host"
    "&X-Amz-Security-Token=FwoGZX&X-Amz-Signature=0123abcd"
)


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        (
            SIGNED,
            "https://bucket.s3.amazonaws.com/corpus/wiki.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=***&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600"
            "&X-Amz-SignedHeaders=host&X-Amz-Security-Token=***&X-Amz-Signature=***",
        ),
        ("https://user:hunter2@example.com:8443/a/b?x=1", "https://***@example.com:8443/a/b?x=1"),
        ("ftp://anonymous@ftp.example.com/pub", "ftp://***@ftp.example.com/pub"),
        (
            "https://acct.blob.core.windows.net/c/f.txt?sv=2024-01-01&se=2026&sp=r&sig=abc%3D",
            "https://acct.blob.core.windows.net/c/f.txt?sv=2024-01-01&se=2026&sp=r&sig=***",
        ),
        (
            "https://h/p?token=t1&access_token=t2&password=p&client_secret=s&apiKey=k&api_key=k"
            "&AWSAccessKeyId=AKIA&session=x&keyword=kept&page=2",
            "https://h/p?token=***&access_token=***&password=***&client_secret=***&apiKey=***"
            "&api_key=***&AWSAccessKeyId=***&session=***&keyword=kept&page=2",
        ),
        ("https://h/cb#access_token=abc&state=1", "https://h/cb#access_token=***&state=1"),
        ("s3://bucket/prefix/file.txt", "s3://bucket/prefix/file.txt"),
        ("/data/corpus/wiki.txt", "/data/corpus/wiki.txt"),
        ("https://h/p?empty=&token=", "https://h/p?empty=&token="),
    ],
)
def test_redact_url(url: str, clean: str) -> None:
    assert storage.redact_url(url) == clean
    assert storage.redact_url(clean) == clean  # idempotent


def test_redact_finds_urls_and_secret_parameters_inside_text() -> None:
    text = f"reading '{SIGNED}' failed; retry with ?sig=xyz or https://u:p@h/x."
    out = redact(text)
    assert "0123abcd" not in out and "AKIAEXAMPLE" not in out and "FwoGZX" not in out
    assert "?sig=***" in out and "https://***@h/x." in out
    assert out.startswith("reading 'https://bucket.s3.amazonaws.com/corpus/wiki.txt?")


def test_errors_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value")
    error = storage.NotFoundError(f"no corpus at {SIGNED} (key s3cr3t-value)")
    assert "0123abcd" not in str(error) and "s3cr3t-value" not in str(error)
    assert "X-Amz-Signature=***" in str(error)


def test_storage_log_messages_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    get_logger("storage.anything").warning("fetching %s for %s", SIGNED, "https://u:pw@h/")
    assert "0123abcd" not in caplog.text and "u:pw" not in caplog.text
    assert "X-Amz-Signature=***" in caplog.text and "https://***@h/" in caplog.text


def test_every_storage_module_logs_through_the_redacting_logger() -> None:
    root = Path(__file__).resolve().parents[1] / "storage"
    for module in sorted(root.glob("*.py")):
        source = module.read_text()
        if module.name != "redact.py":
            assert "logging.getLogger" not in source, module.name
            assert not re.search(r"^import logging", source, re.MULTILINE), module.name
            assert "print(" not in source, module.name


def test_a_put_logs_no_credential(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="storage")
    store = storage.open_store((tmp_path / "s").as_uri(), cache_dir=tmp_path / "c", create=True)
    version = store.put_bytes("corpus/c1/source", "url.txt", SIGNED.encode(), meta={"src": SIGNED})
    store.retract("corpus/c1/source", version.number, f"expired link {SIGNED}")
    assert "0123abcd" not in caplog.text and caplog.text
