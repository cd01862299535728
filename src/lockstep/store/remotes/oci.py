"""``oci://host[:port]/repository`` remotes: objects as blobs of an OCI registry.

Every object is a blob whose digest is the object's own ``sha256:<hex>``, so
``crane blob`` or ``curl`` fetch the same bytes the cache holds. A registry's
garbage collector deletes blobs no manifest references, so after each push the
remote records the pushed objects in *pack* manifests, each tagged by its
content. Layout in the repository (version 1)::

    blobs/sha256:<hex>                       one object, exactly its bytes
    blobs/sha256:44136fa…caaff8a             ``{}``, the OCI empty config
    manifests/lockstep-objects-<32 hex>      a pack (tag = first 32 hex of the
                                             sha256 of its layer digests, sorted,
                                             one ``sha256:<hex>`` per line)
    {"schemaVersion": 2,
     "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.lockstep.objects.v1",
     "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                "digest": "sha256:44136fa…", "size": 2},
     "layers": [{"mediaType": "application/vnd.lockstep.object.v1",
                 "digest": "sha256:<hex>", "size": <bytes>}, …]}   # sorted, ≤ 1000

A pack never changes once tagged, so the packs double as an index: ``present``
reads them (memoized per tag) and asks the registry about the other objects only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from lockstep.config import RemoteConfig
from lockstep.errors import MissingObjectsError
from lockstep.store.remotes.base import CHUNK, Remote
from lockstep.store.remotes.oci_api import Body, Call, Credentials, Registry, parse_url
from lockstep.types import format_digest, parse_digest

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ARTIFACT = "application/vnd.lockstep.objects.v1"
LAYER = "application/vnd.lockstep.object.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
EMPTY_DIGEST = hashlib.sha256(EMPTY).hexdigest()
PACK_PREFIX = "lockstep-objects-"
PACK_SIZE = 1000  # layers per pack manifest
TAGS_PAGE = 1000
DEFAULT_JOBS = 8

T = TypeVar("T")
R = TypeVar("R")


def pack_manifest(layers: dict[str, int]) -> tuple[str, bytes]:
    """The tag and the manifest bytes of a pack holding ``layers`` (digest -> size)."""
    digests = sorted(layers)
    listing = "\n".join(format_digest(d) for d in digests).encode()
    tag = PACK_PREFIX + hashlib.sha256(listing).hexdigest()[:32]
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "artifactType": ARTIFACT,
        "config": {"mediaType": EMPTY_TYPE, "digest": format_digest(EMPTY_DIGEST), "size": 2},
        "layers": [
            {"mediaType": LAYER, "digest": format_digest(d), "size": layers[d]} for d in digests
        ],
    }
    return tag, json.dumps(manifest, separators=(",", ":")).encode()


def pack_layers(manifest: dict[str, Any]) -> dict[str, int]:
    """The sha256 layers of a pack manifest (digest -> size); anything else is ignored."""
    found: dict[str, int] = {}
    layers = manifest.get("layers")
    for layer in layers if isinstance(layers, list) else []:
        digest = parse_digest(layer.get("digest")) if isinstance(layer, dict) else None
        size = layer.get("size") if isinstance(layer, dict) else None
        if digest is not None and isinstance(size, int):
            found[digest] = size
    return found


def _file_chunks(src: Path) -> Iterator[bytes]:
    with open(src, "rb") as handle:
        while block := handle.read(CHUNK):
            yield block


class OCIRemote(Remote):
    """Objects as blobs of one repository of an OCI registry (distribution API v2)."""

    def __init__(
        self, name: str, config: RemoteConfig, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(name, config.url)
        endpoint = parse_url(name, config.url, config.insecure)
        self.api = Registry(name, endpoint, Credentials.from_config(config), transport)
        self.jobs = config.jobs or DEFAULT_JOBS
        self._packs: dict[str, dict[str, int]] = {}  # tag -> layers; a pack never changes
        self._sizes: dict[str, int] = {}  # sizes seen on the registry, for commit
        self._lock = threading.Lock()

    def close(self) -> None:
        self.api.close()

    # --- the Remote interface -------------------------------------------------------

    def present(self, digests: set[str]) -> set[str]:
        if not digests:
            return set()
        packed = self._packed()
        found = digests & packed.keys()
        rest = sorted(digests - found)
        found.update(
            d for d, size in zip(rest, self._map(self._stat, rest), strict=True) if size is not None
        )
        return found

    def upload(self, digest: str, src: Path, size: int) -> None:
        self._put_blob(digest, lambda: _file_chunks(src), size)

    def download(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        what = f"downloading sha256:{digest[:12]}"
        headers = {"Range": f"bytes={offset}-"} if offset else None
        call = Call("GET", self._blob_url(digest), what, (200, 206, 404, 416), headers, stream=True)
        response = self.api.send(call)
        if response.status_code in (404, 416):
            response.close()
            if response.status_code == 404:
                raise MissingObjectsError([digest], f"remote {self.name}")
            return  # the partial file is already whole; the caller's hash check decides
        if response.status_code == 206:
            self._check_range(response, offset, what)
        # a registry that ignores Range sends everything: skip what the caller has
        yield from self.api.body(response, what, offset if response.status_code == 200 else 0)

    def commit(self, digests: set[str]) -> None:
        """Record ``digests`` in pack manifests unless a pack already holds them."""
        if not digests:
            return
        rest = sorted(digests - self._packed().keys())
        if not rest:
            return
        if self._stat(EMPTY_DIGEST) is None:
            self._put_blob(EMPTY_DIGEST, lambda: EMPTY, len(EMPTY))
        sizes = self._sizes_of(rest)
        for start in range(0, len(rest), PACK_SIZE):
            self._put_pack({d: sizes[d] for d in rest[start : start + PACK_SIZE]})

    # --- blobs -------------------------------------------------------------------------

    def _blob_url(self, digest: str) -> str:
        return self.api.endpoint.url(f"blobs/{format_digest(digest)}")

    def _stat(self, digest: str) -> int | None:
        """The blob's size, or None when the registry lacks it."""
        what = f"checking sha256:{digest[:12]}"
        response = self.api.send(Call("HEAD", self._blob_url(digest), what, (200, 404)))
        if response.status_code == 404:
            return None
        try:
            size = int(response.headers["Content-Length"])
        except (KeyError, ValueError) as exc:
            raise self.api.error(f"{what}: the registry did not say the blob's size") from exc
        self._remember({digest: size})
        return size

    def _put_blob(self, digest: str, body: Body, size: int) -> None:
        """POST an upload session, then PUT the whole blob; the registry checks the digest."""
        what = f"uploading sha256:{digest[:12]}"
        start = self.api.send(Call("POST", self.api.endpoint.url("blobs/uploads/"), what, (202,)))
        location = start.headers.get("Location")
        if not location:
            raise self.api.error(f"{what}: the registry gave no upload location")
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        # merged by hand: httpx's params= would drop the session state in the query
        url = start.url.join(location).copy_merge_params({"digest": format_digest(digest)})
        self.api.send(Call("PUT", str(url), what, (201,), headers, body=body))
        self._remember({digest: size})

    def _check_range(self, response: httpx.Response, offset: int, what: str) -> None:
        """A 206 must start where the caller's partial file ends."""
        content_range = response.headers.get("Content-Range", "")
        if not content_range.startswith(f"bytes {offset}-"):
            response.close()
            raise self.api.error(f"{what}: asked for bytes from {offset}, got {content_range!r}")

    def _sizes_of(self, digests: Sequence[str]) -> dict[str, int]:
        unknown = [d for d in digests if d not in self._sizes]
        missing = [
            d
            for d, size in zip(unknown, self._map(self._stat, unknown), strict=True)
            if size is None
        ]
        if missing:
            raise self.api.error(
                f"sha256:{missing[0][:12]} and {len(missing) - 1} more vanished from the "
                "registry before a pack manifest could record them; push again"
            )
        return {d: self._sizes[d] for d in digests}

    def _remember(self, sizes: dict[str, int]) -> None:
        with self._lock:
            self._sizes.update(sizes)

    # --- packs -------------------------------------------------------------------------

    def _packed(self) -> dict[str, int]:
        """Every object the repository's pack manifests hold (digest -> size)."""
        tags = [t for t in self._tags() if t.startswith(PACK_PREFIX)]
        new = [t for t in tags if t not in self._packs]
        for tag, layers in zip(new, self._map(self._read_pack, new), strict=True):
            self._packs[tag] = layers
        packed: dict[str, int] = {}
        for tag in tags:
            packed.update(self._packs[tag])
        self._remember(packed)
        return packed

    def _tags(self) -> list[str]:
        """All tags of the repository, page by page (none when it does not exist yet)."""
        tags: list[str] = []
        url: str | None = self.api.endpoint.url("tags/list")
        params: dict[str, str] | None = {"n": str(TAGS_PAGE)}
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            call = Call("GET", url, "listing tags", (200, 404), params=params)
            response = self.api.send(call)
            if response.status_code == 404:  # NAME_UNKNOWN: nothing pushed yet
                break
            page = self.api.decode(response, call.what)
            tags += [t for t in page.get("tags") or [] if isinstance(t, str)]
            following = response.links.get("next", {}).get("url")
            url = str(response.url.join(following)) if following else None
            params = None
        return tags

    def _read_pack(self, tag: str) -> dict[str, int]:
        url = self.api.endpoint.url(f"manifests/{tag}")
        headers = {"Accept": MANIFEST}
        return pack_layers(self.api.json(Call("GET", url, f"reading {tag}", (200, 404), headers)))

    def _put_pack(self, layers: dict[str, int]) -> None:
        tag, body = pack_manifest(layers)
        url = self.api.endpoint.url(f"manifests/{tag}")
        headers = {"Content-Type": MANIFEST}
        self.api.send(Call("PUT", url, f"writing {tag}", (201,), headers, body=lambda: body))
        self._packs[tag] = layers

    def _map(self, work: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``work`` over ``items`` on up to ``jobs`` threads, in order."""
        if len(items) <= 1:
            return [work(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(self.jobs, len(items))) as pool:
            return list(pool.map(work, items))
