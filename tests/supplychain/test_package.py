"""``lockstep package --push oci://…`` and ``lockstep verify oci://…`` against a real
registry (Debian's docker-registry on 127.0.0.1, which has no referrers API)."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import pytest

from lockstep.store.remotes import oci_upload
from lockstep.supplychain import oci_package
from lockstep.supplychain.oci_package import (
    ARTIFACT,
    CONFIG,
    DSSE_TYPE,
    FILE,
    INDEX,
    MANIFEST,
    TITLE,
    attestation_type,
    parse_reference,
)
from tests.conftest import cli, commit_keys, git
from tests.registry.conftest import reg  # noqa: F401  (the fixture)
from tests.store.remotes.conftest import OCIRegistry, oci_registry  # noqa: F401

pytestmark = pytest.mark.services
ACCEPT = {"Accept": f"{MANIFEST}, {INDEX}"}


def manifest(oci_registry: OCIRegistry, repository: str, reference: str) -> dict[str, Any]:  # noqa: F811
    response = httpx.get(f"{oci_registry.api(repository)}/manifests/{reference}", headers=ACCEPT)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def push(ref: str, target: str) -> dict[str, Any]:
    result = cli("package", ref, "--push", target, "--json")
    assert result.code == 0, result.out + result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


@pytest.fixture
def bundle(reg: Path) -> Path:  # noqa: F811
    """A signed folder model ``bundle`` (weights.bin, vocab.txt) at v0.0.1."""
    folder = reg / "bundle"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(4096))
    (folder / "vocab.txt").write_text("a\nb\nc\n")
    assert cli("add", "bundle").code == 0
    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(reg)
    git(reg, "add", "-A")
    git(reg, "commit", "-qm", "A bundle and a trusted key")
    done = cli("model", "register", "bundle", "--path", "bundle")
    assert done.code == 0, done.out + done.err
    return reg


def test_push_lists_files_and_attestations_and_verifies(
    bundle: Path,
    oci_registry: OCIRegistry,  # noqa: F811
) -> None:
    target = oci_registry.url("models/bundle")
    pushed = push("bundle@v0.0.1", target)
    assert pushed["reference"] == f"{target}:v0.0.1"
    found = manifest(oci_registry, "models/bundle", "v0.0.1")
    assert found["artifactType"] == ARTIFACT
    assert found["config"]["mediaType"] == CONFIG
    assert [(x["mediaType"], x["annotations"][TITLE]) for x in found["layers"]] == [
        (FILE, "vocab.txt"),
        (FILE, "weights.bin"),
    ]
    notes = found["annotations"]
    assert notes["org.opencontainers.image.title"] == "bundle"
    assert notes["org.opencontainers.image.version"] == "0.0.1"
    assert notes["org.opencontainers.image.revision"] == git(bundle, "rev-parse", "HEAD").strip()
    assert notes["org.opencontainers.image.created"]

    digest = pushed["digest"].removeprefix("sha256:")
    index = manifest(oci_registry, "models/bundle", f"sha256-{digest}")
    kinds = {m["artifactType"] for m in index["manifests"]}
    assert attestation_type("signature") in kinds and attestation_type("bom") in kinds
    signature = next(
        m for m in index["manifests"] if m["artifactType"] == attestation_type("signature")
    )
    attached = manifest(oci_registry, "models/bundle", signature["digest"])
    assert attached["subject"]["digest"] == pushed["digest"]
    assert attached["layers"][0]["mediaType"] == DSSE_TYPE

    result = cli("verify", f"{target}:v0.0.1")
    assert result.code == 0, result.out + result.err
    assert "pass  model digest" in result.out and "pass  signature" in result.out


def test_a_changed_file_reuploads_only_its_blob(
    bundle: Path,
    oci_registry: OCIRegistry,  # noqa: F811
) -> None:
    target = oci_registry.url("models/again")
    first = push("bundle@v0.0.1", target)
    assert len(first["uploaded"]) == 2 and first["already_present"] == []
    weights = bundle / "bundle" / "weights.bin"
    weights.unlink()
    weights.write_bytes(os.urandom(4096))
    assert cli("add", "bundle").code == 0
    git(bundle, "add", "-A")
    git(bundle, "commit", "-qm", "New weights")
    assert cli("model", "register", "bundle", "--path", "bundle").code == 0
    second = push("bundle@v0.0.2", target)
    new = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    vocab = "sha256:" + hashlib.sha256((bundle / "bundle" / "vocab.txt").read_bytes()).hexdigest()
    assert second["uploaded"] == [new]
    assert second["already_present"] == [vocab]
    assert cli("verify", f"{target}:v0.0.2").code == 0


def test_a_tampered_layer_fails_verification(
    bundle: Path,
    oci_registry: OCIRegistry,  # noqa: F811
) -> None:
    target = oci_registry.url("models/tampered")
    push("bundle@v0.0.1", target)
    found = manifest(oci_registry, "models/tampered", "v0.0.1")
    ref = parse_reference(f"{target}:v0.0.1")
    api = oci_package.connect(ref)
    try:
        other = oci_upload.upload_bytes(api, b"not the weights")
        layer = next(x for x in found["layers"] if x["annotations"][TITLE] == "weights.bin")
        layer["digest"] = f"sha256:{other.digest}"
        layer["size"] = other.size
        body = json.dumps(found).encode()
        oci_package.put_manifest(api, "evil", body, MANIFEST)
    finally:
        api.close()
    result = cli("verify", f"{target}:evil")
    assert result.code == 1, result.out + result.err
    assert "FAIL  model digest" in result.out
    assert "model digest" in result.err


def test_a_package_signed_by_an_untrusted_key_fails(
    bundle: Path,
    oci_registry: OCIRegistry,  # noqa: F811
) -> None:
    target = oci_registry.url("models/untrusted")
    push("bundle@v0.0.1", target)
    trusted = bundle / ".lockstep" / "trusted-keys"
    trusted.rename(bundle / "elsewhere")
    trusted.mkdir()
    result = cli("verify", f"{target}:v0.0.1")
    assert result.code == 1
    assert "FAIL  signature" in result.out


def test_a_large_blob_goes_in_chunks_with_bounded_memory(
    tmp_path: Path,
    oci_registry: OCIRegistry,  # noqa: F811
) -> None:
    chunk = 4 << 20
    big = tmp_path / "big.bin"
    with open(big, "wb") as out:
        for _ in range(5):
            out.write(os.urandom(chunk))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    ref = parse_reference(f"{oci_registry.url('models/big')}:x")
    api = oci_package.connect(ref)
    try:
        tracemalloc.start()
        done = oci_upload.upload_file(api, digest, big, big.stat().st_size, chunk_size=chunk)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert done.chunks == 5
        assert peak < 3 * chunk < big.stat().st_size
        assert oci_upload.exists(api, digest)
        again = oci_upload.upload_file(api, digest, big, big.stat().st_size, chunk_size=chunk)
        assert not again.sent
    finally:
        api.close()


def test_references() -> None:
    ref = parse_reference("oci://127.0.0.1:5000/a/b", default_tag="v1.0.0")
    assert (ref.url, ref.reference) == ("oci://127.0.0.1:5000/a/b", "v1.0.0")
    ref = parse_reference("oci://127.0.0.1:5000/a/b:latest")
    assert (ref.url, ref.reference) == ("oci://127.0.0.1:5000/a/b", "latest")
    assert str(ref) == "oci://127.0.0.1:5000/a/b:latest"
    ref = parse_reference("oci://host/repo@sha256:" + "a" * 64)
    assert ref.reference == "sha256:" + "a" * 64
