"""s3:// stores through s3fs: configuration from the standard AWS environment, create-only
commits with `If-None-Match: *`, streamed multipart uploads, and errors that say what to fix.

Measured pitfalls (DESIGN section 5): the region comes from `AWS_DEFAULT_REGION`, not
`client_kwargs`; a refused create is `FileExistsError` on AWS/moto but a plain `OSError` (412
PreconditionFailed) on SeaweedFS; ETags and `checksum`/`ukey` are not content hashes (we verify
sha256 ourselves).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from storage.errors import (
    StoreAuthError,
    StoreConnectionError,
    StoreError,
)
from storage.objects import CHUNK, Objects

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


def _filesystem(endpoint: str | None, env: Mapping[str, str]) -> Any:
    """The s3fs filesystem for this endpoint and these credentials (shared, see above)."""
    import s3fs  # imported here: s3fs (aiobotocore) costs ~0.5 s and only S3 stores need it

    settings = [endpoint or "", *(env.get(var, "") for var in _CLIENT_ENV)]
    key = hashlib.sha256("\0".join(settings).encode()).hexdigest()
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

    def __init__(self, bucket: str, prefix: str, url: str, env: Mapping[str, str]) -> None:
        self.bucket = bucket
        self.endpoint = endpoint_from_env(env)
        fs = _filesystem(self.endpoint, env)
        super().__init__(fs, f"{bucket}/{prefix}".rstrip("/"), url)

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
            ConnectionError as BotoConnectionError,
        )
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
        if any(isinstance(e, BotoConnectionError | ConnectionError | TimeoutError) for e in chain):
            kind = "timed out" if any(isinstance(e, ReadTimeoutError) for e in chain) else "failed"
            return StoreConnectionError(
                f"connection to {self.endpoint_text} {kind} (store {self.url}): start the "
                "server or fix AWS_ENDPOINT_URL_S3 (or AWS_ENDPOINT_URL); for AWS itself, "
                "unset it and set AWS_DEFAULT_REGION"
            )
        return StoreError(
            f"S3 request for {self.where(key)} at {self.endpoint_text} failed "
            f"({code or type(exc).__name__}: {exc}): retry, or check the server's logs"
        )

    def probe(self) -> None:
        """One signed list: proves endpoint, credentials and bucket before any real work."""
        with self.errors():
            self.fs.call_s3("list_objects_v2", Bucket=self.bucket, Prefix=self._prefix, MaxKeys=1)

    def create(self, key: str, data: bytes) -> bool:
        with self.errors(key):
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
        with self.errors(key):
            self.fs.put_file(
                str(local), self.path(key), chunksize=part, max_concurrency=UPLOAD_CONCURRENCY
            )

    def delete(self, keys: Iterable[str]) -> None:
        paths = [self.path(k) for k in keys]
        for start in range(0, len(paths), 1000):  # DeleteObjects takes 1000 keys per call
            with self.errors(), contextlib.suppress(FileNotFoundError):
                self.fs.rm(paths[start : start + 1000])

    def sweep(self, older_than: float, dry_run: bool) -> list[str]:
        """Abort multipart uploads a killed writer left under the prefix (they hold space)."""
        prefix = self._prefix
        with self.errors():
            out = self.fs.call_s3("list_multipart_uploads", Bucket=self.bucket, Prefix=prefix)
        stale = [
            u
            for u in out.get("Uploads", [])
            if u["Initiated"].timestamp() < older_than and u["Key"].startswith(prefix)
        ]
        for upload in [] if dry_run else stale:
            with self.errors(), contextlib.suppress(FileNotFoundError):
                self.fs.call_s3(
                    "abort_multipart_upload",
                    Bucket=self.bucket,
                    Key=upload["Key"],
                    UploadId=upload["UploadId"],
                )
        return [f"{u['Key'][len(prefix) :]} (multipart upload)" for u in stale]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _code(exc: BaseException) -> str | None:
    """The S3 error code (or HTTP status) behind an exception s3fs translated, if any."""
    for e in _chain(exc):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            return error.get("Code") or (str(status) if status else None)
    return None
