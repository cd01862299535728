"""A model version as an OCI artifact, and its attestations beside it.

The package (an OCI image manifest v1, pushed under a tag such as ``v1.2.0``)::

    {"schemaVersion": 2,
     "mediaType": "application/vnd.oci.image.manifest.v1+json",
     "artifactType": "application/vnd.lockstep.model.v1",
     "config": {"mediaType": "application/vnd.lockstep.model.config.v1+json",
                "digest": "sha256:…", "size": …},        # the version's tag metadata
     "layers": [{"mediaType": "application/vnd.lockstep.model.file.v1",
                 "digest": "sha256:<hex of the file>", "size": …,
                 "annotations": {"org.opencontainers.image.title": "<path in the model>",
                                 "dev.lockstep.file.mode": "0644"}}, …],   # sorted by path
     "annotations": {"org.opencontainers.image.title": "churn",
                     "org.opencontainers.image.version": "1.2.0",
                     "org.opencontainers.image.revision": "<git commit>",
                     "org.opencontainers.image.created": "<ISO 8601>",
                     "org.opencontainers.image.source": "<git remote>"}}

Each attestation object (a DSSE envelope, or an unsigned in-toto statement) is an
image manifest of its own, ``artifactType`` by kind, one layer, the OCI empty
config and ``subject`` = the package's descriptor. A registry without the
referrers API finds them through the fallback tag of the distribution spec 1.1:
``sha256-<hex of the package manifest's digest>`` holds an OCI image index
listing every attestation manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lockstep.config import RemoteConfig
from lockstep.errors import InputError
from lockstep.store.remotes import oci_upload
from lockstep.store.remotes.oci_api import Call, Credentials, Registry, parse_url
from lockstep.store.remotes.oci_upload import Uploaded
from lockstep.store.tree import check_relative
from lockstep.types import format_digest, parse_digest

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
ARTIFACT = "application/vnd.lockstep.model.v1"
CONFIG = "application/vnd.lockstep.model.config.v1+json"
FILE = "application/vnd.lockstep.model.file.v1"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
DSSE_TYPE = "application/vnd.dsse.envelope.v1+json"
STATEMENT_TYPE = "application/vnd.in-toto+json"
TITLE = "org.opencontainers.image.title"
MODE = "dev.lockstep.file.mode"
KIND = "dev.lockstep.attestation.kind"
ACCEPT = f"{MANIFEST}, {INDEX}"


def attestation_type(kind: str) -> str:
    """The ``artifactType`` of an attestation manifest: one per kind."""
    return f"application/vnd.lockstep.attestation.{kind}.v1"


def fallback_tag(manifest_digest: str) -> str:
    """The referrers tag of a manifest (64 hex): ``sha256-<hex>``."""
    return f"sha256-{manifest_digest}"


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- references -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """``oci://host[:port]/repository[:tag|@sha256:<hex>]``."""

    url: str  # oci://host[:port]/repository
    reference: str  # a tag or sha256:<hex>

    def __str__(self) -> str:
        separator = "@" if self.reference.startswith("sha256:") else ":"
        return f"{self.url}{separator}{self.reference}"


def parse_reference(text: str, default_tag: str | None = None) -> Reference:
    """Split the tag or digest off an ``oci://`` reference; ``default_tag`` when none."""
    if not text.startswith("oci://"):
        raise InputError(f"{text}: expected oci://host[:port]/repository[:tag]")
    base, at, digest = text.partition("@")
    if at:
        if parse_digest(digest) is None:
            raise InputError(f"{text}: {digest!r} is not a sha256:<hex> digest")
        return Reference(base, digest)
    head, slash, last = base.rpartition("/")
    name, colon, tag = last.partition(":")
    if not colon and default_tag is None:
        raise InputError(f"{text}: name a tag (oci://host/repository:TAG)")
    if urlsplit(text).path.strip("/") == "" or not slash:
        raise InputError(f"{text}: expected oci://host[:port]/repository[:tag]")
    return Reference(f"{head}/{name}", tag if colon else str(default_tag))


def connect(ref: Reference, insecure: bool = False) -> Registry:
    """A client for the reference's repository; credentials from LOCKSTEP_OCI_*."""
    config = RemoteConfig(url=ref.url, insecure=insecure)
    return Registry(ref.url, parse_url(ref.url, ref.url, insecure), Credentials.from_config(config))


# --- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str  # 64 hex
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict)
    artifact_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": format_digest(self.digest),
            "size": self.size,
        }
        if self.artifact_type:
            found["artifactType"] = self.artifact_type
        if self.annotations:
            found["annotations"] = dict(self.annotations)
        return found

    @classmethod
    def from_dict(cls, data: object, source: str) -> Descriptor:
        if not isinstance(data, dict):
            raise InputError(f"{source}: a descriptor is not a JSON object")
        digest, size = parse_digest(data.get("digest")), data.get("size")
        if digest is None or not isinstance(size, int):
            raise InputError(f"{source}: a descriptor lacks a sha256 digest or a size")
        annotations = data.get("annotations") or {}
        return cls(
            str(data.get("mediaType", "")),
            digest,
            size,
            {str(k): str(v) for k, v in annotations.items()},
            data.get("artifactType"),
        )


@dataclass(frozen=True)
class PackageFile:
    """One file of the model: ``path`` inside the model, read from ``src``."""

    path: str
    src: Path
    digest: str  # 64 hex
    size: int
    mode: str = "0644"

    def descriptor(self) -> Descriptor:
        return Descriptor(FILE, self.digest, self.size, {TITLE: self.path, MODE: self.mode})


@dataclass(frozen=True)
class Attachment:
    """An attestation object to push beside the package."""

    kind: str
    data: bytes
    signed: bool

    def descriptor(self) -> Descriptor:
        media = DSSE_TYPE if self.signed else STATEMENT_TYPE
        return Descriptor(media, _sha256(self.data), len(self.data))


def package_manifest(
    config: Descriptor, files: Sequence[PackageFile], annotations: Mapping[str, str]
) -> bytes:
    layers = [f.descriptor().to_dict() for f in sorted(files, key=lambda f: f.path)]
    return _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": ARTIFACT,
            "config": config.to_dict(),
            "layers": layers,
            "annotations": dict(annotations),
        }
    )


def attestation_manifest(attachment: Attachment, subject: Descriptor) -> bytes:
    empty = Descriptor(EMPTY_TYPE, _sha256(EMPTY), len(EMPTY))
    return _json(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "artifactType": attestation_type(attachment.kind),
            "config": empty.to_dict(),
            "layers": [attachment.descriptor().to_dict()],
            "subject": subject.to_dict(),
            "annotations": {KIND: attachment.kind},
        }
    )


def referrers_index(manifests: Sequence[Descriptor]) -> bytes:
    ordered = sorted({m.digest: m for m in manifests}.values(), key=lambda m: m.digest)
    return _json(
        {"schemaVersion": 2, "mediaType": INDEX, "manifests": [m.to_dict() for m in ordered]}
    )


# --- push -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Pushed:
    reference: str
    digest: str  # the package manifest's, 64 hex
    uploads: tuple[Uploaded, ...]  # the layers
    attestations: tuple[Descriptor, ...]  # the attestation manifests

    @property
    def uploaded(self) -> list[str]:
        return [u.digest for u in self.uploads if u.sent]

    @property
    def present(self) -> list[str]:
        return [u.digest for u in self.uploads if not u.sent]

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "digest": format_digest(self.digest),
            "uploaded": [format_digest(d) for d in self.uploaded],
            "already_present": [format_digest(d) for d in self.present],
            "attestations": [
                {"artifactType": a.artifact_type, "digest": format_digest(a.digest)}
                for a in self.attestations
            ],
        }


def push(
    api: Registry,
    ref: Reference,
    files: Sequence[PackageFile],
    config: Mapping[str, Any],
    *,
    annotations: Mapping[str, str],
    attachments: Sequence[Attachment] = (),
    chunk_size: int = oci_upload.CHUNK_SIZE,
) -> Pushed:
    """Upload the files the registry lacks, the config, the manifest under the tag, then
    each attestation and the referrers index under the fallback tag."""
    uploads = tuple(oci_upload.upload_file(api, f.digest, f.src, f.size, chunk_size) for f in files)
    config_blob = oci_upload.upload_bytes(api, _json(config))
    body = package_manifest(
        Descriptor(CONFIG, config_blob.digest, config_blob.size), files, {**annotations}
    )
    put_manifest(api, ref.reference, body, MANIFEST)
    subject = Descriptor(MANIFEST, _sha256(body), len(body), artifact_type=ARTIFACT)
    attached = [attach(api, a, subject) for a in attachments]
    if attached:
        index = referrers(api, subject.digest) + attached
        put_manifest(api, fallback_tag(subject.digest), referrers_index(index), INDEX)
    return Pushed(str(ref), subject.digest, uploads, tuple(attached))


def attach(api: Registry, attachment: Attachment, subject: Descriptor) -> Descriptor:
    """Push one attestation manifest (by digest); its descriptor for the index."""
    oci_upload.upload_bytes(api, EMPTY)
    oci_upload.upload_bytes(api, attachment.data)
    body = attestation_manifest(attachment, subject)
    digest = _sha256(body)
    put_manifest(api, format_digest(digest), body, MANIFEST)
    kind = attestation_type(attachment.kind)
    return Descriptor(MANIFEST, digest, len(body), {KIND: attachment.kind}, kind)


def put_manifest(api: Registry, reference: str, body: bytes, media_type: str) -> None:
    url = api.endpoint.url(f"manifests/{reference}")
    headers = {"Content-Type": media_type}
    call = Call("PUT", url, f"writing manifest {reference}", (201,), headers, body=lambda: body)
    api.send(call).close()


def referrers(api: Registry, manifest_digest: str) -> list[Descriptor]:
    """The manifests the fallback tag of ``manifest_digest`` lists (none: no tag)."""
    tag = fallback_tag(manifest_digest)
    found = get_manifest(api, tag, missing_ok=True)
    if found is None:
        return []
    listed = _object(found[0], tag).get("manifests")
    return [Descriptor.from_dict(m, tag) for m in (listed if isinstance(listed, list) else [])]


def get_manifest(
    api: Registry, reference: str, missing_ok: bool = False
) -> tuple[bytes, str] | None:
    """A manifest's bytes and digest (checked when asked for by digest)."""
    url = api.endpoint.url(f"manifests/{reference}")
    what = f"reading manifest {reference}"
    call = Call("GET", url, what, (200, 404) if missing_ok else (200,), {"Accept": ACCEPT})
    response = api.send(call)
    if response.status_code == 404:
        response.close()
        return None
    body = response.read()
    response.close()
    digest = _sha256(body)
    if reference.startswith("sha256:") and reference != format_digest(digest):
        raise api.error(f"{what}: the registry sent a manifest whose digest is sha256:{digest}")
    return body, digest


# --- pull -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PulledFile:
    path: str
    expected: str  # the layer's digest
    actual: str  # what the downloaded bytes hash to
    size: int
    mode: str

    @property
    def intact(self) -> bool:
        return self.expected == self.actual


@dataclass(frozen=True)
class Pulled:
    reference: str
    digest: str  # the package manifest's
    config: dict[str, Any]
    files: tuple[PulledFile, ...]
    attestations: tuple[tuple[str, bytes], ...]  # (kind, object bytes) about this manifest


def pull(api: Registry, ref: Reference, dest: Path) -> Pulled:
    """Download the package's config and files into ``dest`` (hashing every byte) and
    the attestations the fallback tag lists."""
    found = get_manifest(api, ref.reference)
    assert found is not None
    body, digest = found
    manifest = _object(body, str(ref))
    if manifest.get("artifactType") != ARTIFACT:
        raise InputError(f"{ref}: not a lockstep model package (artifactType {ARTIFACT})")
    config_blob = Descriptor.from_dict(manifest.get("config"), str(ref))
    config = _object(_read_blob(api, config_blob.digest), f"the config of {ref}")
    layers = manifest.get("layers")
    listed = layers if isinstance(layers, list) else []
    files = tuple(_pull_file(api, layer, dest, str(ref)) for layer in listed)
    attestations = tuple(_attestation(api, m, digest) for m in referrers(api, digest))
    return Pulled(str(ref), digest, config if isinstance(config, dict) else {}, files, attestations)


def _pull_file(api: Registry, layer: object, dest: Path, source: str) -> PulledFile:
    found = Descriptor.from_dict(layer, source)
    path = found.annotations.get(TITLE, "")
    problem = check_relative(path)
    if problem is not None:
        raise InputError(f"{source}: layer title {path!r} {problem}")
    target = dest / path
    target.parent.mkdir(parents=True, exist_ok=True)
    hasher, size = hashlib.sha256(), 0
    with open(target, "wb") as out:
        for block in _blob_chunks(api, found.digest):
            hasher.update(block)
            out.write(block)
            size += len(block)
    mode = found.annotations.get(MODE, "0644")
    target.chmod(0o755 if mode == "0755" else 0o644)
    return PulledFile(path, found.digest, hasher.hexdigest(), size, mode)


def _attestation(api: Registry, listed: Descriptor, subject: str) -> tuple[str, bytes]:
    found = get_manifest(api, format_digest(listed.digest))
    assert found is not None
    manifest = _object(found[0], f"attestation manifest sha256:{listed.digest[:12]}")
    about = Descriptor.from_dict(manifest.get("subject"), listed.digest)
    if about.digest != subject:
        raise InputError(f"attestation sha256:{listed.digest[:12]} is about another manifest")
    layers = manifest.get("layers")
    first = layers[0] if isinstance(layers, list) and layers else None
    layer = Descriptor.from_dict(first, listed.digest)
    kind = str(manifest.get("annotations", {}).get(KIND, ""))
    return kind, _read_blob(api, layer.digest)


def _object(data: bytes, source: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise InputError(f"{source}: not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise InputError(f"{source}: not a JSON object")
    return parsed


def _read_blob(api: Registry, digest: str) -> bytes:
    data = b"".join(_blob_chunks(api, digest))
    if _sha256(data) != digest:
        raise api.error(f"blob sha256:{digest[:12]} does not hash to its digest")
    return data


def _blob_chunks(api: Registry, digest: str) -> Iterator[bytes]:
    what = f"downloading sha256:{digest[:12]}"
    response = api.send(Call("GET", oci_upload.blob_url(api, digest), what, stream=True))
    yield from api.body(response, what)
