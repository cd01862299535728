"""``s3://bucket/prefix`` remotes through fsspec/s3fs.

Layout (the cache's names, so a key can be checked with ``sha256sum``)::

    <bucket>/<prefix>/blobs/sha256/<first 2 hex>/<64 hex>    exactly the bytes
                                                             whose sha256 is its name

An object appears whole or not at all: small objects go up in one PUT, large
ones as a multipart upload that S3 only publishes when it completes. Downloads
are ranged GETs of :data:`BLOCK` bytes from the requested offset, so a resumed
download does not fetch the start again.

Endpoint, region, profile and credentials come from the remote's config
(credentials only from ``.lockstep/config.local.toml``), else from the usual AWS
variables and files, which botocore reads by itself. No region is passed unless
one is configured. Every foreign error (botocore, aiohttp, s3fs's ``OSError``)
becomes a :class:`~lockstep.errors.RemoteError` of one line, chained to the
original, with any configured secret masked.

One ``S3FileSystem`` is shared by the transfer threads: s3fs runs every request
on its own event-loop thread and the sync calls only hand coroutines to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import s3fs
from botocore.exceptions import (  # type: ignore[import-untyped]
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
)
from fsspec.asyn import sync

from lockstep.config import RemoteConfig
from lockstep.errors import MissingObjectsError, RemoteError
from lockstep.store.remotes.base import CHUNK, Remote

BLOCK = 8 * CHUNK  # bytes per ranged GET
PART = 8 * CHUNK  # multipart part size; objects under two parts go up in one PUT
MAX_PARTS = 10_000  # S3's limit on parts per upload
LIST_FROM = 64  # from this many digests on, list the prefix instead of one HEAD each
RETRIES = 2  # botocore retries per request, on top of the first attempt

_FOREIGN = (OSError, BotoCoreError, ClientError, aiohttp.ClientError, asyncio.TimeoutError)
_DENIED = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"}
)
_NOT_FOUND = frozenset({"NoSuchKey", "404"})
_NO_CREDENTIALS = (
    "no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile)"
)


class S3Remote(Remote):
    def __init__(self, name: str, config: RemoteConfig) -> None:
        super().__init__(name, config.url)
        parsed = urlparse(config.url)
        if not parsed.netloc:
            raise RemoteError(name, f"{config.url}: no bucket (expected s3://bucket/prefix)")
        self.bucket = parsed.netloc
        prefix = parsed.path.strip("/")
        self.blobs = f"{prefix}/blobs/sha256/" if prefix else "blobs/sha256/"
        self.endpoint = config.endpoint_url or "AWS S3"
        self._secrets = [
            s for s in (config.access_key_id, config.secret_access_key, config.session_token) if s
        ]
        self._fatal: str | None = None  # a problem no further request can get past
        self._bucket_checked = False
        with self._guard("cannot set up the S3 client"):
            self.fs: Any = _filesystem(config)

    def key(self, digest: str) -> str:
        return f"{self.blobs}{digest[:2]}/{digest}"

    def present(self, digests: set[str]) -> set[str]:
        if not digests:
            return set()
        with self._guard(f"cannot list s3://{self.bucket}/{self.blobs}"):
            self._check_bucket()
            if len(digests) < LIST_FROM:
                found: set[str] = sync(self.fs.loop, self._heads, sorted(digests))
                return found
            return digests & self._listed()

    def upload(self, digest: str, src: Path, size: int) -> None:
        part = max(PART, math.ceil(size / MAX_PARTS))
        with self._guard(f"cannot upload sha256:{digest[:12]}"):
            self.fs.put_file(
                str(src), f"{self.bucket}/{self.key(digest)}", chunksize=part, max_concurrency=4
            )

    def download(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        while True:
            block = self._block(digest, offset)
            if block:
                yield block
            if len(block) < BLOCK:
                return
            offset += len(block)

    def close(self) -> None:
        client = getattr(self.fs, "_s3", None)  # None until the first request
        if client is not None:
            with contextlib.suppress(Exception):  # closing must never fail a transfer
                sync(self.fs.loop, client.close)

    # --- requests ----------------------------------------------------------------------

    def _check_bucket(self) -> None:
        """Tell a missing bucket apart from missing objects (HEAD 404s say neither)."""
        if self._bucket_checked:
            return
        try:
            self.fs.call_s3("head_bucket", Bucket=self.bucket)
        except FileNotFoundError as exc:
            raise _NoBucketError from exc
        except PermissionError:
            pass  # HeadBucket needs s3:ListBucket; the next request says more if it matters
        self._bucket_checked = True

    async def _heads(self, digests: list[str]) -> set[str]:
        found = await asyncio.gather(*(self._head(d) for d in digests))
        return {d for d, here in zip(digests, found, strict=True) if here}

    async def _head(self, digest: str) -> bool:
        try:
            await self.fs._call_s3("head_object", Bucket=self.bucket, Key=self.key(digest))
        except FileNotFoundError:
            return False
        return True

    def _listed(self) -> set[str]:
        """Every digest stored under the prefix: one LIST per 1,000 keys."""
        found: set[str] = set()
        request: dict[str, str] = {"Bucket": self.bucket, "Prefix": self.blobs}
        while True:
            page = self.fs.call_s3("list_objects_v2", **request)
            for item in page.get("Contents", []):
                digest = item["Key"].rsplit("/", 1)[-1]
                if item["Key"] == self.key(digest):
                    found.add(digest)
            if not page.get("IsTruncated"):
                return found
            request["ContinuationToken"] = page["NextContinuationToken"]

    def _block(self, digest: str, offset: int) -> bytes:
        """Up to :data:`BLOCK` bytes from ``offset``; empty at or past the end."""
        with self._guard(f"cannot download sha256:{digest[:12]}"):
            try:
                data: bytes = self.fs.cat_file(
                    f"{self.bucket}/{self.key(digest)}", start=offset, end=offset + BLOCK
                )
            except FileNotFoundError as exc:
                if _code(exc) in _NOT_FOUND:
                    raise MissingObjectsError([digest], f"remote {self.name}") from exc
                raise
            except OSError as exc:
                if _code(exc) != "InvalidRange":
                    raise
                data = b""  # the object is not longer than offset
            return data

    # --- errors ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Translate foreign errors into one-line RemoteErrors."""
        if self._fatal is not None:
            raise RemoteError(self.name, self._fatal)
        try:
            yield
        except (_NoBucketError, *_FOREIGN) as exc:
            problem, fatal = self._problem(exc, action)
            problem = self._mask(problem)
            if fatal:
                self._fatal = problem
            raise RemoteError(self.name, problem) from exc

    def _problem(self, exc: BaseException, action: str) -> tuple[str, bool]:
        """One line for ``exc`` and whether every later request would fail the same way."""
        code = _code(exc)
        if isinstance(exc, _NoBucketError) or code == "NoSuchBucket":
            return f"bucket {self.bucket!r} does not exist at {self.endpoint}", True
        if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError)):
            return f"cannot connect to {self.endpoint}", True
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"cannot connect to {self.endpoint} ({_text(exc)})", True
        if isinstance(exc, NoCredentialsError):
            return _NO_CREDENTIALS, True
        if code in _DENIED or (code and isinstance(exc, PermissionError)):
            return (
                f"access denied to s3://{self.bucket}/{self.blobs} ({_text(exc)}); "
                "check the credentials and the bucket policy",
                False,
            )
        if isinstance(exc, asyncio.TimeoutError):
            return f"{action}: {self.endpoint} did not answer in time", False
        return f"{action}: {_text(exc)}", False

    def _mask(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _NoBucketError(Exception):
    """HeadBucket said 404: the bucket is missing."""


def _filesystem(config: RemoteConfig) -> Any:
    """A private (uncached) S3FileSystem for ``config``."""
    options: dict[str, Any] = {}
    if config.profile:
        options["profile"] = config.profile
    return s3fs.S3FileSystem(
        endpoint_url=config.endpoint_url,
        key=config.access_key_id,
        secret=config.secret_access_key,
        token=config.session_token,
        client_kwargs={"region_name": config.region} if config.region else {},
        config_kwargs={"retries": {"mode": "standard", "max_attempts": RETRIES}},
        skip_instance_cache=True,
        use_listings_cache=False,
        **options,
    )


def _code(exc: BaseException) -> str | None:
    """The S3 error code (``NoSuchKey``, ``AccessDenied``, ...) behind ``exc``, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = response.get("Error", {}).get("Code")
            return str(code) if code else None
        seen = seen.__cause__
    return None


def _text(exc: BaseException) -> str:
    """The message of ``exc`` on one line, without errno decoration."""
    strerror = exc.strerror if isinstance(exc, OSError) else None
    text = str(strerror or exc) or type(exc).__name__
    return " ".join(text.split())
