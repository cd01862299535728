"""Blob uploads to an OCI registry in chunks, with memory bounded by the chunk size.

The distribution API's chunked upload::

    POST  /v2/REPO/blobs/uploads/                      -> 202, Location: <session>
    PATCH <session>  Content-Range: <start>-<end>       -> 202, Location: <session'>
    ...                                                   (one PATCH per chunk)
    PUT   <session'>?digest=sha256:<hex>  (no body)     -> 201

Each chunk is read from the file when it is sent, so at most one chunk is held in
memory; the registry checks the digest of the whole blob at the final PUT. A blob
the registry has already is not sent again (``exists`` asks with a HEAD).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import httpx

from lockstep.store.remotes.oci_api import Call, Registry
from lockstep.types import format_digest

CHUNK_SIZE = 8 << 20  # 8 MiB


@dataclass(frozen=True)
class Uploaded:
    """What one upload did: ``chunks`` PATCH requests (0: the blob was there already)."""

    digest: str  # 64 hex
    size: int
    chunks: int

    @property
    def sent(self) -> bool:
        return self.chunks > 0


def blob_url(api: Registry, digest: str) -> str:
    return api.endpoint.url(f"blobs/{format_digest(digest)}")


def exists(api: Registry, digest: str) -> bool:
    """Does the repository hold blob ``digest`` (64 hex)?"""
    call = Call("HEAD", blob_url(api, digest), f"checking sha256:{digest[:12]}", (200, 404))
    response = api.send(call)
    response.close()
    return response.status_code == 200


def upload_file(
    api: Registry, digest: str, src: Path, size: int, chunk_size: int = CHUNK_SIZE
) -> Uploaded:
    """Upload ``src`` as blob ``digest`` in chunks of ``chunk_size`` bytes, unless the
    registry has it already."""
    if exists(api, digest):
        return Uploaded(digest, size, 0)
    what = f"uploading sha256:{digest[:12]}"
    location = _start(api, what)
    chunks = 0
    with open(src, "rb") as handle:
        offset = 0
        while block := handle.read(chunk_size):
            location = _patch(api, location, block, offset, what)
            offset += len(block)
            chunks += 1
    if offset != size:
        raise api.error(f"{what}: {src.name} holds {offset} bytes, expected {size}")
    _finish(api, location, digest, what)
    return Uploaded(digest, size, max(chunks, 1))


def upload_bytes(api: Registry, data: bytes) -> Uploaded:
    """Upload a small blob (a config, a manifest's attestation) in one request."""
    digest = hashlib.sha256(data).hexdigest()
    if exists(api, digest):
        return Uploaded(digest, len(data), 0)
    what = f"uploading sha256:{digest[:12]}"
    location = _start(api, what)
    url = location.copy_merge_params({"digest": format_digest(digest)})
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}
    api.send(Call("PUT", str(url), what, (201,), headers, body=lambda: data)).close()
    return Uploaded(digest, len(data), 1)


def _start(api: Registry, what: str) -> httpx.URL:
    response = api.send(Call("POST", api.endpoint.url("blobs/uploads/"), what, (202,)))
    response.close()
    return _location(api, response, what)


def _patch(api: Registry, location: httpx.URL, block: bytes, offset: int, what: str) -> httpx.URL:
    headers = {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(block)),
        "Content-Range": f"{offset}-{offset + len(block) - 1}",
    }
    # an iterator, not the bytes: httpx keeps each request in a reference cycle with its
    # response, which would hold every chunk sent until the garbage collector runs
    call = Call("PATCH", str(location), what, (202,), headers, body=lambda: iter((block,)))
    response = api.send(call)
    response.close()
    return _location(api, response, what)


def _finish(api: Registry, location: httpx.URL, digest: str, what: str) -> None:
    # merged by hand: httpx's params= would drop the session state in the query
    url = location.copy_merge_params({"digest": format_digest(digest)})
    headers = {"Content-Length": "0"}
    api.send(Call("PUT", str(url), what, (201,), headers, body=lambda: b"")).close()


def _location(api: Registry, response: httpx.Response, what: str) -> httpx.URL:
    location = response.headers.get("Location")
    if not location:
        raise api.error(f"{what}: the registry gave no upload location")
    return response.url.join(location)
