"""Store URLs: the default location, and which backend a URL opens.

`file://` (the default, under the user's data directory), `memory://` (tests) and
`s3://bucket/prefix` (credentials and endpoint from the standard AWS environment variables).
A bare path is read as a local directory. Credentials never go in a URL: it ends up in logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from storage.backends.local import LocalObjects
from storage.backends.objects import MemoryObjects, Objects
from storage.backends.retry import RetryPolicy
from storage.errors import InvalidInputError

SCHEMES = ("file", "memory", "s3")
APP_DIR = "lightrnn-flow"


RETRY_ENV = "LIGHTRNN_STORE_RETRY_SECONDS"


def default_retry_seconds(default: float, env: Mapping[str, str] | None = None) -> float:
    """How long store calls ride out an outage: $LIGHTRNN_STORE_RETRY_SECONDS, else `default`."""
    env = os.environ if env is None else env
    raw = env.get(RETRY_ENV)
    if raw is None or not raw.strip():
        return default
    try:
        return float(raw)
    except ValueError:
        raise InvalidInputError(
            f"{RETRY_ENV}={raw!r} is not a number of seconds: set it to e.g. 300, or unset it"
        ) from None


def default_store_url(env: Mapping[str, str] | None = None) -> str:
    """file:// URL of the default store: $XDG_DATA_HOME (or ~/.local/share)/lightrnn-flow/store."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base, APP_DIR, "store").absolute().as_uri()


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where verified local copies go: $XDG_CACHE_HOME (or ~/.cache)/lightrnn-flow/store."""
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, APP_DIR, "store").absolute()


def open_objects(
    url: str, env: Mapping[str, str] | None = None, retry: RetryPolicy | None = None
) -> Objects:
    """The backend for a store URL (retrying as `retry` says); a clear error for anything it
    cannot serve."""
    env = os.environ if env is None else env
    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError(
            f"store URL {url!r} is empty: pass file:///path, memory://name or s3://bucket/prefix"
        )
    if "://" not in url:
        return _local(Path(url).expanduser().absolute(), retry)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if "@" in parts.netloc:
        raise InvalidInputError(
            f"store URL {url!r} carries credentials, which would end up in logs: remove "
            "them and set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) instead"
        )
    if parts.query or parts.fragment:
        raise InvalidInputError(
            f"store URL {url!r} has a query or fragment, which the store does not read: "
            "remove it (set the S3 endpoint with AWS_ENDPOINT_URL_S3)"
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise InvalidInputError(
                f"store URL {url!r} names host {parts.netloc!r}: a file URL needs an absolute "
                f"path with three slashes, e.g. file:///{parts.netloc}{parts.path}"
            )
        return _local(Path(unquote(parts.path)), retry)
    if scheme == "memory":
        name = f"{parts.netloc}{parts.path}".strip("/")
        return MemoryObjects(f"/{name}" if name else "", f"memory://{name}")
    if scheme in ("s3", "s3a"):
        from storage.backends.s3 import S3Objects

        bucket, prefix = parts.netloc, parts.path.strip("/")
        if not bucket:
            raise InvalidInputError(
                f"store URL {url!r} names no bucket: write it as s3://bucket/prefix"
            )
        if "//" in parts.path.strip("/"):
            raise InvalidInputError(
                f"store URL {url!r} has an empty path segment: write it as s3://bucket/prefix"
            )
        location = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        return S3Objects(bucket, prefix, location, env, retry)
    raise InvalidInputError(
        f"store URL {url!r} has scheme {scheme!r}, which the store does not support: "
        "use file:///path, memory://name or s3://bucket/prefix"
    )


def _local(path: Path, retry: RetryPolicy | None) -> LocalObjects:
    path = path.expanduser().absolute()
    return LocalObjects(str(path), path.as_uri(), retry)
