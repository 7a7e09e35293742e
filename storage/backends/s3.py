"""s3:// stores through s3fs: configuration from the standard AWS environment, create-only
commits with `If-None-Match: *`, streamed multipart uploads, and errors that say what to fix.

Measured pitfalls (docs/design.md#primitives-the-protocol-needs-from-a-backend): the region
comes from `AWS_DEFAULT_REGION`, not `client_kwargs`; a refused create is `FileExistsError` on
AWS/moto but a plain `OSError` (412 PreconditionFailed) on SeaweedFS; ETags and
`checksum`/`ukey` are not content hashes (we verify sha256 ourselves).

Failures are classified: endpoint unreachable, connection reset, timeouts, 5xx and throttling
(SlowDown, 429) raise `StoreUnavailableError` (transient), which `RetryPolicy` retries; auth,
missing bucket, missing key and bad requests are permanent. `probe` (run by `open_store`) does
not wait for an endpoint this process has never reached: that is a setup error, said at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from storage.backends.objects import CHUNK, Objects
from storage.backends.retry import RetryPolicy
from storage.errors import (
    StoreAuthError,
    StoreConnectionError,
    StoreError,
    StoreUnavailableError,
)

MAX_PARTS = 10_000  # S3's limit on the parts of one multipart upload
UPLOAD_CONCURRENCY = 2  # parts in flight: measured peak ~4 parts of memory (botocore copies)
_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
}
_DENIED_CODES = {"AccessDenied", "AllAccessDisabled", "403"}
_CREATE_REFUSED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_TRANSIENT_CODES = {
    "SlowDown",
    "ServiceUnavailable",
    "InternalError",
    "RequestTimeout",
    "RequestTimeoutException",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "OperationAborted",
    "429",
}


# Creating an S3 client costs ~0.2 s of CPU on fsspec's single I/O thread, so stores opened
# with the same endpoint and credentials share one filesystem object. The key holds a hash of
# the secrets, never the secrets; listings are not cached, so sharing cannot serve stale refs.
_FILESYSTEMS: dict[str, object] = {}
_FILESYSTEMS_LOCK = threading.Lock()
_CLIENT_ENV = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_MAX_ATTEMPTS",
    "AWS_RETRY_MODE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
)


# Endpoints (by the same key) this process has had a good answer from: only for those does
# `probe` wait out an outage; a never-reached endpoint is most likely a wrong URL.
_REACHED: set[str] = set()


def _settings_key(endpoint: str | None, env: Mapping[str, str]) -> str:
    settings = [endpoint or "", *(env.get(var, "") for var in _CLIENT_ENV)]
    return hashlib.sha256("\0".join(settings).encode()).hexdigest()


def _filesystem(key: str, endpoint: str | None, env: Mapping[str, str]) -> Any:
    """The s3fs filesystem for this endpoint and these credentials (shared, see above)."""
    import s3fs  # imported here: s3fs (aiobotocore) costs ~0.5 s and only S3 stores need it

    with _FILESYSTEMS_LOCK:
        if key not in _FILESYSTEMS:
            config: dict[str, object] = {"connect_timeout": 5, "read_timeout": 60}
            if not env.get("AWS_MAX_ATTEMPTS") and not env.get("AWS_RETRY_MODE"):
                # botocore's legacy default (5 attempts) takes ~6 s to report a dead endpoint
                config["retries"] = {"max_attempts": 3, "mode": "standard"}
            _FILESYSTEMS[key] = s3fs.S3FileSystem(
                endpoint_url=endpoint,
                skip_instance_cache=True,  # fsspec's cache ignores the environment: ours does not
                use_listings_cache=False,  # listings must see other writers' commits at once
                config_kwargs=config,
            )
        return _FILESYSTEMS[key]


def endpoint_from_env(env: Mapping[str, str]) -> str | None:
    """The S3 endpoint the AWS tools would use: AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL."""
    return env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None


class S3Objects(Objects):
    """s3://bucket/prefix: keys are objects under the prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        url: str,
        env: Mapping[str, str],
        retry: RetryPolicy | None = None,
    ) -> None:
        self.bucket = bucket
        self.endpoint = endpoint_from_env(env)
        self._settings = _settings_key(self.endpoint, env)
        fs = _filesystem(self._settings, self.endpoint, env)
        super().__init__(fs, f"{bucket}/{prefix}".rstrip("/"), url, retry)

    @property
    def _prefix(self) -> str:
        """Key prefix of the store inside its bucket: 'a/b/', or '' at the bucket's root."""
        prefix = self.root.partition("/")[2]
        return f"{prefix}/" if prefix else ""

    @property
    def endpoint_text(self) -> str:
        if self.endpoint:
            return f"S3 endpoint {self.endpoint}"
        return "the AWS S3 endpoint (AWS_ENDPOINT_URL_S3 unset)"

    @contextlib.contextmanager
    def errors(self, key: str = "") -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except FileNotFoundError as exc:
            if _code(exc) == "NoSuchBucket" or "bucket does not exist" in str(exc):
                raise self._no_bucket() from exc
            raise
        except Exception as exc:
            raise self._translate(exc, key) from exc

    def _no_bucket(self) -> StoreConnectionError:
        return StoreConnectionError(
            f"bucket {self.bucket!r} does not exist at {self.endpoint_text} (store {self.url}): "
            f"create it (e.g. `aws s3 mb s3://{self.bucket}`) or fix the bucket in the URL"
        )

    def _translate(self, exc: BaseException, key: str) -> StoreError:
        from botocore.exceptions import (
            NoCredentialsError,
            PartialCredentialsError,
            ReadTimeoutError,
        )

        chain = list(_chain(exc))
        code = _code(exc)
        if any(isinstance(e, NoCredentialsError | PartialCredentialsError) for e in chain):
            return StoreAuthError(
                f"no usable AWS credentials for store {self.url}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment"
            )
        if code in _AUTH_CODES:
            return StoreAuthError(
                f"{self.endpoint_text} rejected the credentials for store {self.url} ({code}): "
                "check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) for this "
                "endpoint"
            )
        if code in _DENIED_CODES:
            return StoreAuthError(
                f"{self.endpoint_text} denied access to {self.where(key)} ({code}): use "
                "credentials allowed to list, read, write and delete under the store's prefix "
                "(s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject), or check "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
            )
        if code == "NoSuchBucket":
            return self._no_bucket()
        if any(isinstance(e, _transport_errors()) for e in chain):
            kind = "timed out" if any(isinstance(e, ReadTimeoutError) for e in chain) else "failed"
            return StoreUnavailableError(
                f"connection to {self.endpoint_text} {kind} (store {self.url}): start the "
                "server or fix AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL); for AWS itself, "
                "unset it and set AWS_DEFAULT_REGION"
            )
        status = _status(exc)
        if code in _TRANSIENT_CODES or (status is not None and (status >= 500 or status == 429)):
            return StoreUnavailableError(
                f"{self.endpoint_text} is unavailable for {self.where(key)} "
                f"({code or status}: {exc}) (store {self.url}): the server is overloaded or "
                "restarting; wait and retry, or check the server's logs"
            )
        return StoreError(
            f"S3 request for {self.where(key)} at {self.endpoint_text} failed "
            f"({code or type(exc).__name__}: {exc}): retry, or check the server's logs"
        )

    def probe(self) -> None:
        """One signed list: proves endpoint, credentials and bucket before any real work."""

        def list_one() -> None:
            self.fs.call_s3("list_objects_v2", Bucket=self.bucket, Prefix=self._prefix, MaxKeys=1)

        if self._settings in _REACHED:
            self.call("", list_one)
        else:
            with self.errors():
                list_one()
            _REACHED.add(self._settings)

    def create_once(self, key: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self.path(key), data, mode="create")  # If-None-Match: *
            return True
        except FileExistsError:  # AWS, moto
            return False
        except OSError as exc:  # SeaweedFS: 412 surfaces as OSError(EINVAL)
            if _code(exc) in _CREATE_REFUSED:
                return False
            raise

    def upload(self, key: str, local: Path, size: int) -> None:
        # Parts of CHUNK bytes (more for huge files: S3 allows 10,000 parts), at most
        # UPLOAD_CONCURRENCY in flight: memory stays bounded whatever the file's size.
        part = max(CHUNK, math.ceil(size / MAX_PARTS))
        self.call(
            key,
            lambda: self.fs.put_file(
                str(local), self.path(key), chunksize=part, max_concurrency=UPLOAD_CONCURRENCY
            ),
        )

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self.path(k) for k in keys]
        for start in range(0, len(paths), 1000):  # DeleteObjects takes 1000 keys per call
            batch = paths[start : start + 1000]
            self.call(self.key_of(batch[0]), lambda batch=batch: self._rm(batch))

    def _rm(self, paths: list[str]) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(paths)

    def sweep(
        self, grace_cutoff: float, stale_cutoff: float, busy: set[str], dry_run: bool
    ) -> list[str]:
        """Abort multipart uploads a killed writer left under the prefix (they hold space):
        those older than `stale_cutoff`, and those older than `grace_cutoff` whose key no
        commit in flight writes (a writer announces its blobs before it uploads any)."""
        prefix = self._prefix
        out = self.call(
            "",
            lambda: self.fs.call_s3("list_multipart_uploads", Bucket=self.bucket, Prefix=prefix),
        )
        stale = []
        for upload in out.get("Uploads", []):
            key, started = upload["Key"][len(prefix) :], upload["Initiated"].timestamp()
            if upload["Key"].startswith(prefix) and (
                started < stale_cutoff or (started < grace_cutoff and key not in busy)
            ):
                stale.append(upload)
        for upload in [] if dry_run else stale:
            self.call(upload["Key"], lambda upload=upload: self._abort(upload))
        return [f"{u['Key'][len(prefix) :]} (multipart upload)" for u in stale]

    def _abort(self, upload: dict[str, Any]) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.call_s3(
                "abort_multipart_upload",
                Bucket=self.bucket,
                Key=upload["Key"],
                UploadId=upload["UploadId"],
            )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean the request never got a proper answer (imported on first use)."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError
    from botocore.parsers import ResponseParserError  # garbled replies of a throttling server

    found: list[type[BaseException]] = [
        BotoConnectionError,
        HTTPClientError,
        ResponseParserError,
        ConnectionError,
        TimeoutError,
    ]
    with contextlib.suppress(ImportError):
        from aiohttp import ClientConnectionError, ClientPayloadError

        found += [ClientConnectionError, ClientPayloadError]
    with contextlib.suppress(ImportError):
        from fsspec.exceptions import FSTimeoutError

        found.append(FSTimeoutError)
    return tuple(found)


def _status(exc: BaseException) -> int | None:
    """The HTTP status of the S3 response behind an exception, if any."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return int(status) if status else None
    return None


def _code(exc: BaseException) -> str | None:
    """The S3 error code (or HTTP status) behind an exception s3fs translated, if any."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return error.get("Code") or (str(status) if status else None)
    return None
