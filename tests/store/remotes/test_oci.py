"""The oci:// remote against a real registry (Debian's docker-registry 2.8), end to end.

Objects are blobs under their own digest, pack manifests keep them referenced so
registry garbage collection spares them, pulls resume with Range requests, and
every failure is one line naming the remote.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lockstep.config import RemoteConfig
from lockstep.errors import MissingObjectsError, RemoteError
from lockstep.store.remotes.oci import (
    ARTIFACT,
    EMPTY_DIGEST,
    EMPTY_TYPE,
    LAYER,
    MANIFEST,
    PACK_PREFIX,
    OCIRemote,
    pack_manifest,
)
from lockstep.store.remotes.oci_api import parse_url
from tests.conftest import cli, git
from tests.services import free_port
from tests.store.remotes.conftest import OCIRegistry

services = pytest.mark.services
TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")


def repository_for(request: pytest.FixtureRequest) -> str:
    """A repository name of its own for each test (the registry is shared)."""
    return "tests/" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")


def digest_of(pointer: Path) -> str:
    return str(yaml.safe_load(pointer.read_text())["digest"]).removeprefix("sha256:")


def cached(ws: Path) -> set[str]:
    return {p.name for p in (ws / ".lockstep/cache/blobs/sha256").glob("*/*") if "." not in p.name}


def pack_tags(registry: OCIRegistry, repository: str) -> list[str]:
    tags = httpx.get(f"{registry.api(repository)}/tags/list").json()["tags"]
    return sorted(t for t in tags if t.startswith(PACK_PREFIX))


def manifest(registry: OCIRegistry, repository: str, tag: str) -> dict[str, Any]:
    url = f"{registry.api(repository)}/manifests/{tag}"
    response = httpx.get(url, headers={"Accept": MANIFEST})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def packed(registry: OCIRegistry, repository: str) -> dict[str, int]:
    layers: dict[str, int] = {}
    for tag in pack_tags(registry, repository):
        for layer in manifest(registry, repository, tag)["layers"]:
            layers[layer["digest"].removeprefix("sha256:")] = layer["size"]
    return layers


def fresh_workspace(source: Path, target: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new repository with ``source``'s pointer and .gitignore files and the same remote."""
    target.mkdir()
    git(target, "init", "-q", "-b", "main")
    monkeypatch.chdir(target)
    assert cli("init").code == 0
    assert cli("remote", "add", "origin", url).code == 0
    for path in [*source.rglob("*.lockstep"), *source.rglob(".gitignore")]:
        relative = path.relative_to(source)
        if relative.parts[0] in (".git", ".lockstep"):
            continue
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target / relative)
    return target


@pytest.fixture
def pushed(ws: Path, oci_registry: OCIRegistry, request: pytest.FixtureRequest) -> tuple[Path, str]:
    """A workspace whose folder and file were pushed to their own repository."""
    repository = repository_for(request)
    (ws / "data" / "nested").mkdir(parents=True)
    for i in range(12):
        (ws / "data" / f"{i}.csv").write_text(f"row {i}\n" * (i + 1))
    (ws / "data" / "nested" / "deep.txt").write_text("deep\n")
    (ws / "data" / "empty.txt").write_bytes(b"")
    (ws / "model.bin").write_bytes(bytes(range(256)) * 4000)  # 1 MB, more than one chunk
    assert cli("remote", "add", "origin", oci_registry.url(repository)).code == 0
    assert cli("add", "data", "model.bin").code == 0
    result = cli("push", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"failed": {}, "skipped": 0, "transferred": 16}
    return ws, repository


@services
def test_pull_in_a_fresh_workspace_restores_bytes(
    pushed: tuple[Path, str],
    oci_registry: OCIRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, repository = pushed
    other = fresh_workspace(ws, tmp_path / "other", oci_registry.url(repository), monkeypatch)
    result = cli("pull")
    assert result.code == 0, result.err
    assert "16 object(s) fetched" in result.out
    assert (other / "model.bin").read_bytes() == (ws / "model.bin").read_bytes()
    for path in (ws / "data").rglob("*"):
        twin = other / path.relative_to(ws)
        assert twin.is_dir() if path.is_dir() else twin.read_bytes() == path.read_bytes()
    assert cached(other) == cached(ws)


@services
def test_blobs_keep_their_digests(pushed: tuple[Path, str], oci_registry: OCIRegistry) -> None:
    ws, repository = pushed
    hexd = digest_of(ws / "model.bin.lockstep")
    blob = httpx.get(f"{oci_registry.api(repository)}/blobs/sha256:{hexd}")
    assert blob.status_code == 200
    assert hashlib.sha256(blob.content).hexdigest() == hexd


@services
def test_second_push_moves_nothing_and_packs_are_tagged(
    pushed: tuple[Path, str], oci_registry: OCIRegistry
) -> None:
    ws, repository = pushed
    again = cli("push", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out) == {"failed": {}, "skipped": 16, "transferred": 0}
    tags = pack_tags(oci_registry, repository)
    assert len(tags) == 1 and TAG.fullmatch(tags[0])
    assert set(packed(oci_registry, repository)) == cached(ws)
    assert pack_tags(oci_registry, repository) == tags  # nothing new to record


@services
def test_pack_manifest_layout(pushed: tuple[Path, str], oci_registry: OCIRegistry) -> None:
    ws, repository = pushed
    (tag,) = pack_tags(oci_registry, repository)
    data = manifest(oci_registry, repository, tag)
    layers = {
        d: (ws / ".lockstep/cache/blobs/sha256" / d[:2] / d).stat().st_size for d in cached(ws)
    }
    assert (tag, json.loads(pack_manifest(layers)[1])) == (tag, data)
    assert data["schemaVersion"] == 2
    assert data["mediaType"] == MANIFEST
    assert data["artifactType"] == ARTIFACT
    assert data["config"] == {
        "mediaType": EMPTY_TYPE,
        "digest": f"sha256:{EMPTY_DIGEST}",
        "size": 2,
    }
    listing = "\n".join(f"sha256:{d}" for d in sorted(layers)).encode()
    assert tag == PACK_PREFIX + hashlib.sha256(listing).hexdigest()[:32]
    assert all(layer["mediaType"] == LAYER for layer in data["layers"])


@services
def test_objects_survive_registry_garbage_collection(
    pushed: tuple[Path, str],
    oci_registry: OCIRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, repository = pushed
    orphan = tmp_path / "orphan"
    orphan.write_bytes(b"uploaded but never recorded in a pack")
    orphan_digest = hashlib.sha256(orphan.read_bytes()).hexdigest()
    remote = OCIRemote("origin", RemoteConfig(url=oci_registry.url(repository)))
    try:
        remote.upload(orphan_digest, orphan, orphan.stat().st_size)
    finally:
        remote.close()
    oci_registry.stop()
    try:
        log = oci_registry.garbage_collect()
    finally:
        oci_registry.start()
    assert orphan_digest in log  # it really collected something
    gone = httpx.head(f"{oci_registry.api(repository)}/blobs/sha256:{orphan_digest}")
    assert gone.status_code == 404
    other = fresh_workspace(ws, tmp_path / "other", oci_registry.url(repository), monkeypatch)
    result = cli("pull")
    assert result.code == 0, result.err
    assert (other / "model.bin").read_bytes() == (ws / "model.bin").read_bytes()
    assert cached(other) == cached(ws)


@services
def test_fetch_resumes_a_partial_download_with_a_range_request(
    pushed: tuple[Path, str],
    oci_registry: OCIRegistry,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, repository = pushed
    hexd = digest_of(ws / "model.bin.lockstep")
    whole = (ws / "model.bin").read_bytes()
    other = fresh_workspace(ws, tmp_path / "other", oci_registry.url(repository), monkeypatch)
    partial = other / ".lockstep/cache/blobs/sha256" / hexd[:2] / (hexd + ".incomplete")
    partial.parent.mkdir(parents=True)
    partial.write_bytes(whole[:300_000])
    result = cli("fetch", "model.bin")
    assert result.code == 0, result.err
    assert not partial.exists()
    obj = partial.with_name(hexd)
    assert hashlib.sha256(obj.read_bytes()).hexdigest() == hexd
    ranged = [line for line in oci_registry.log.read_text().splitlines() if '" 206 ' in line]
    assert any(f"GET /v2/{repository}/blobs/sha256:{hexd}" in line for line in ranged)


@services
def test_download_from_an_offset(pushed: tuple[Path, str], oci_registry: OCIRegistry) -> None:
    ws, repository = pushed
    hexd = digest_of(ws / "model.bin.lockstep")
    whole = (ws / "model.bin").read_bytes()
    remote = OCIRemote("origin", RemoteConfig(url=oci_registry.url(repository)))
    try:
        assert b"".join(remote.download(hexd, 12345)) == whole[12345:]
        assert b"".join(remote.download(hexd, len(whole))) == b""
        assert b"".join(remote.download(hexd)) == whole
    finally:
        remote.close()


@services
def test_missing_blob_is_a_missing_object(oci_registry: OCIRegistry) -> None:
    remote = OCIRemote("origin", RemoteConfig(url=oci_registry.url("tests/nothing-here")))
    try:
        assert remote.present({"0" * 64}) == set()
        with pytest.raises(MissingObjectsError, match="missing from remote origin"):
            b"".join(remote.download("0" * 64))
    finally:
        remote.close()


@services
def test_a_wrong_digest_is_refused_and_never_readable(
    oci_registry: OCIRegistry, tmp_path: Path
) -> None:
    src = tmp_path / "blob"
    src.write_bytes(b"the real bytes")
    claimed = hashlib.sha256(b"other bytes").hexdigest()
    remote = OCIRemote("origin", RemoteConfig(url=oci_registry.url("tests/wrong-digest")))
    try:
        with pytest.raises(RemoteError, match=r"^remote origin: uploading sha256:\w+: HTTP 400 "):
            remote.upload(claimed, src, src.stat().st_size)
        assert remote.present({claimed}) == set()
    finally:
        remote.close()


def push_error(url: str, ws: Path) -> str:
    """Push one file to ``url``; return stderr after checking it is one clear line."""
    (ws / "f.txt").write_text("hello\n")
    assert cli("remote", "add", "origin", url).code == 0
    assert cli("add", "f.txt").code == 0
    result = cli("push")
    assert result.code == 1
    assert result.err.startswith("error: remote origin: ")
    assert result.err.count("\n") == 1 and "Traceback" not in result.err
    return result.err


def test_closed_port_is_one_clear_line(ws: Path) -> None:
    err = push_error(f"oci://127.0.0.1:{free_port()}/team/data", ws)
    assert "Connection refused" in err or "cannot connect" in err


def test_invalid_repository_name_is_one_clear_line(ws: Path) -> None:
    err = push_error(f"oci://127.0.0.1:{free_port()}/Team/Data", ws)
    assert "not a valid repository name" in err


@services
@pytest.mark.slow
def test_many_objects_make_several_packs_all_reachable(
    ws: Path, oci_registry: OCIRegistry, request: pytest.FixtureRequest
) -> None:
    repository = repository_for(request)
    (ws / "many").mkdir()
    for i in range(1200):
        (ws / "many" / f"{i:04d}.txt").write_text(f"object number {i}\n")
    assert cli("remote", "add", "origin", oci_registry.url(repository)).code == 0
    assert cli("add", "many").code == 0
    result = cli("push", "--json", "--jobs", "16")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 1201  # the files and their tree
    tags = pack_tags(oci_registry, repository)
    assert len(tags) == 2
    assert all(len(manifest(oci_registry, repository, t)["layers"]) <= 1000 for t in tags)
    layers = packed(oci_registry, repository)
    assert set(layers) == cached(ws)
    again = cli("push", "--json")
    assert json.loads(again.out) == {"failed": {}, "skipped": 1201, "transferred": 0}
    assert pack_tags(oci_registry, repository) == tags


# --- paths the local registry cannot show: token auth, paged tags, Range ignored ---------


class FakeRegistry:
    """Just enough of a token-protected, paging registry, as an httpx transport.

    The real registry above has no auth and answers tags/list in one page; this
    one demands a Bearer token from its realm (Basic credentials required), pages
    its tags two at a time through Link headers and ignores Range headers.
    """

    REALM = "http://127.0.0.1:9/token"
    BASE = "/v2/team/data"

    def __init__(self, packs: list[dict[str, int]], blobs: dict[str, bytes]) -> None:
        self.packs = dict(pack_manifest(layers) for layers in packs)
        self.tags = sorted([*self.packs, "latest", "v1"])
        self.blobs = blobs
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if str(request.url).startswith(self.REALM):
            return self.token(request)
        if request.headers.get("Authorization") != "Bearer t0k3n":
            challenge = (
                f'Bearer realm="{self.REALM}",service="fake",scope="repository:team/data:pull"'
            )
            body = {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}
            return httpx.Response(401, json=body, headers={"WWW-Authenticate": challenge})
        path = request.url.path.removeprefix(self.BASE)
        if path == "/tags/list":
            return self.tag_page(request)
        if path.startswith("/manifests/"):
            return httpx.Response(200, content=self.packs[path.rsplit("/", 1)[1]])
        data = self.blobs.get(path.removeprefix("/blobs/sha256:"))
        return httpx.Response(404) if data is None else httpx.Response(200, content=data)

    def token(self, request: httpx.Request) -> httpx.Response:
        expected = "Basic " + base64.b64encode(b"alice:s3cret-pw").decode()
        if request.headers.get("Authorization") != expected:
            return httpx.Response(
                401, json={"errors": [{"code": "DENIED", "message": "bad login"}]}
            )
        return httpx.Response(200, json={"token": "t0k3n"})

    def tag_page(self, request: httpx.Request) -> httpx.Response:
        last = request.url.params.get("last")
        start = self.tags.index(last) + 1 if last else 0
        page = self.tags[start : start + 2]
        headers = {}
        if start + 2 < len(self.tags):
            headers["Link"] = f'<{self.BASE}/tags/list?n=2&last={page[-1]}>; rel="next"'
        return httpx.Response(200, json={"name": "team/data", "tags": page}, headers=headers)


def fake_remote(fake: FakeRegistry) -> OCIRemote:
    config = RemoteConfig(url="oci://registry.invalid/team/data")
    return OCIRemote("origin", config, transport=httpx.MockTransport(fake))


def hexes(n: int, start: int = 0) -> list[str]:
    return [hashlib.sha256(str(i).encode()).hexdigest() for i in range(start, start + n)]


def test_token_challenge_and_paged_tags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_OCI_USERNAME", "alice")
    monkeypatch.setenv("LOCKSTEP_OCI_PASSWORD", "s3cret-pw")
    a, b, loose = hexes(3), hexes(3, 3), hexes(2, 6)
    fake = FakeRegistry([dict.fromkeys(a, 1), dict.fromkeys(b, 1)], dict.fromkeys(loose, b"x"))
    remote = fake_remote(fake)
    try:
        assert remote.present({*a, *b, *loose, *hexes(2, 8)}) == {*a, *b, *loose}
    finally:
        remote.close()
    assert {r.url.scheme for r in fake.seen} == {"https", "http"}  # the registry, the realm
    assert sum(r.url.path.endswith("/tags/list") for r in fake.seen) >= 2  # paged
    heads = [r for r in fake.seen if r.method == "HEAD"]
    assert len(heads) == 4  # only the objects no pack lists
    tokens = [r for r in fake.seen if str(r.url).startswith(FakeRegistry.REALM)]
    assert len(tokens) == 1 and tokens[0].url.params["scope"] == "repository:team/data:pull"


def test_download_skips_the_offset_when_range_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCKSTEP_OCI_USERNAME", "alice")
    monkeypatch.setenv("LOCKSTEP_OCI_PASSWORD", "s3cret-pw")
    data = bytes(range(256)) * 10
    (digest,) = hexes(1)
    remote = fake_remote(FakeRegistry([], {digest: data}))
    try:
        assert b"".join(remote.download(digest, 1000)) == data[1000:]
    finally:
        remote.close()


@pytest.mark.parametrize("password", [None, "wrong-pw"])
def test_refused_credentials_are_one_line_without_secrets(
    monkeypatch: pytest.MonkeyPatch, password: str | None
) -> None:
    monkeypatch.delenv("LOCKSTEP_OCI_USERNAME", raising=False)
    monkeypatch.delenv("LOCKSTEP_OCI_PASSWORD", raising=False)
    if password:
        monkeypatch.setenv("LOCKSTEP_OCI_USERNAME", "alice")
        monkeypatch.setenv("LOCKSTEP_OCI_PASSWORD", password)
    remote = fake_remote(FakeRegistry([], {}))
    try:
        with pytest.raises(RemoteError) as caught:
            remote.present(set(hexes(1)))
    finally:
        remote.close()
    message = str(caught.value)
    assert message.startswith("remote origin: asking http://127.0.0.1:9/token for a token: ")
    assert "HTTP 401 DENIED: bad login" in message and "\n" not in message
    assert (password or "s3cret-pw") not in message
    assert ("check the credentials" if password else "LOCKSTEP_OCI_USERNAME") in message


def test_scheme_follows_the_host() -> None:
    assert parse_url("o", "oci://127.0.0.1:5000/a/b", False).base == "http://127.0.0.1:5000"
    assert parse_url("o", "oci://localhost/a", False).base == "http://localhost"
    assert parse_url("o", "oci://ghcr.io/team/data", False).base == "https://ghcr.io"
    assert parse_url("o", "oci://reg.lan:5000/x", True).base == "http://reg.lan:5000"
    for bad in ("oci://host/", "oci://host/UPPER", "oci://u:p@host/x", "oci://host/x:tag"):
        with pytest.raises(RemoteError, match=r"^remote o: "):
            parse_url("o", bad, False)
