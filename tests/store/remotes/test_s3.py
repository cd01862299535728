"""The s3:// remote against a real moto server: same names as the cache, only missing
objects move, downloads resume and are verified, every failure is one clear line."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from lockstep.config import RemoteConfig
from lockstep.errors import MissingObjectsError, RemoteError
from lockstep.store.remotes import open_remote
from lockstep.store.remotes.s3 import BLOCK, PART, S3Remote
from tests.conftest import cli, git
from tests.services import free_port
from tests.store.remotes.conftest import S3Bucket

pytestmark = pytest.mark.services

BIG = 2 * PART + 12_345  # a multipart upload, downloaded in three ranged blocks


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_data(root: Path) -> None:
    """A folder (nested, with an empty and a big file) and a single file."""
    rng = random.Random(7)
    (root / "data" / "sub").mkdir(parents=True)
    for i in range(5):
        (root / "data" / f"{i}.csv").write_text(f"row {i}\n" * (i + 1))
    (root / "data" / "sub" / "empty.txt").write_bytes(b"")
    (root / "data" / "sub" / "big.bin").write_bytes(rng.randbytes(BIG))
    (root / "model.bin").write_bytes(rng.randbytes(300_000))


def add_remote(url: str, endpoint: str) -> None:
    result = cli("remote", "add", "origin", url, "--endpoint-url", endpoint)
    assert result.code == 0, result.err


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def cached(ws: Path) -> set[str]:
    return {p.name for p in (ws / ".lockstep/cache/blobs/sha256").glob("*/*") if "." not in p.name}


def fresh_workspace(
    src: Path, dest: Path, url: str, endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A new repository with ``src``'s pointer and .gitignore files and the same remote."""
    dest.mkdir()
    git(dest, "init", "-q", "-b", "main")
    monkeypatch.chdir(dest)
    assert cli("init").code == 0
    add_remote(url, endpoint)
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if rel.parts[0] in (".git", ".lockstep") or not path.is_file():
            continue
        if path.name.endswith(".lockstep") or path.name == ".gitignore":
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest / rel)
    return dest


@pytest.fixture
def pushed(ws: Path, s3_bucket: S3Bucket) -> tuple[Path, str]:
    """A workspace whose folder and file are pushed to s3://bucket/prefix; its URL."""
    url = f"s3://{s3_bucket.name}/prefix"
    make_data(ws)
    assert cli("add", "data").code == 0
    assert cli("add", "model.bin").code == 0
    add_remote(url, s3_bucket.endpoint)
    result = cli("push", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"failed": {}, "skipped": 0, "transferred": 9}
    return ws, url


# --- end to end through the CLI ---------------------------------------------------------


def test_push_then_pull_in_a_fresh_workspace(
    pushed: tuple[Path, str],
    s3_bucket: S3Bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, url = pushed
    keys = s3_bucket.keys()
    assert keys == {f"prefix/blobs/sha256/{d[:2]}/{d}" for d in cached(ws)}
    for key in keys:
        assert sha256(s3_bucket.read(key)) == key.rsplit("/", 1)[-1]

    other = fresh_workspace(ws, tmp_path / "other", url, s3_bucket.endpoint, monkeypatch)
    result = cli("pull")
    assert result.code == 0, result.err
    assert "9 object(s) fetched" in result.out
    assert files_under(other / "data") == files_under(ws / "data")
    assert (other / "model.bin").read_bytes() == (ws / "model.bin").read_bytes()
    assert cached(other) == cached(ws)


def test_second_push_moves_nothing(pushed: tuple[Path, str]) -> None:
    result = cli("push")
    assert result.code == 0, result.err
    assert "Pushed: 0 object(s) transferred, 9 already there." in result.out
    result = cli("push", "--json")
    assert json.loads(result.out) == {"failed": {}, "skipped": 9, "transferred": 0}


def test_many_objects_are_listed_and_only_new_ones_sent(ws: Path, s3_bucket: S3Bucket) -> None:
    (ws / "many").mkdir()
    for i in range(80):
        (ws / "many" / f"{i}.txt").write_text(f"file {i}\n")
    add_remote(f"s3://{s3_bucket.name}/deep/prefix", s3_bucket.endpoint)
    assert cli("add", "many").code == 0
    assert json.loads(cli("push", "--json").out)["transferred"] == 81
    (ws / "many" / "80.txt").write_text("one more\n")
    assert cli("add", "many").code == 0
    result = cli("push", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {"failed": {}, "skipped": 80, "transferred": 2}
    assert all(k.startswith("deep/prefix/blobs/sha256/") for k in s3_bucket.keys())


def test_fetch_resumes_a_partial_download(
    pushed: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, _ = pushed
    data = (ws / "data" / "sub" / "big.bin").read_bytes()
    digest = sha256(data)
    target = ws / ".lockstep/cache/blobs/sha256" / digest[:2] / digest
    target.unlink()
    partial = target.with_name(digest + ".incomplete")
    partial.write_bytes(data[: len(data) // 2])
    offsets: list[int] = []
    block = S3Remote._block

    def spy(self: S3Remote, digest: str, offset: int) -> bytes:
        offsets.append(offset)
        return block(self, digest, offset)

    monkeypatch.setattr(S3Remote, "_block", spy)
    result = cli("fetch", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["transferred"] == 1
    assert offsets[0] == len(data) // 2  # the first half is not fetched again
    assert sha256(target.read_bytes()) == digest
    assert not partial.exists()


def test_corrupt_remote_object_never_reaches_the_cache(
    pushed: tuple[Path, str],
    s3_bucket: S3Bucket,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ws, url = pushed
    digest = sha256((ws / "model.bin").read_bytes())
    s3_bucket.write(f"prefix/blobs/sha256/{digest[:2]}/{digest}", b"not the model")
    other = fresh_workspace(ws, tmp_path / "other", url, s3_bucket.endpoint, monkeypatch)
    result = cli("pull")
    assert result.code == 1
    assert "corrupt" in result.err and digest in result.err
    assert "Traceback" not in result.err
    obj = other / ".lockstep/cache/blobs/sha256" / digest[:2] / digest
    assert not obj.exists()
    assert not obj.with_name(digest + ".incomplete").exists()
    assert not (other / "model.bin").exists()


# --- failures: one line, exit code 1, no traceback --------------------------------------


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_closed_port_is_one_clear_line(
    ws: Path, aws_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    add_remote("s3://bucket/prefix", endpoint)
    for i in range(6):
        (ws / f"f{i}.txt").write_text(f"{i}\n")
        assert cli("add", f"f{i}.txt").code == 0
    result = cli("push")
    assert result.code == 1
    assert one_error_line(result.err) == f"error: remote origin: cannot connect to {endpoint}"

    fresh_workspace(ws, tmp_path / "other", "s3://bucket/prefix", endpoint, monkeypatch)
    result = cli("pull")
    assert result.code == 1
    assert one_error_line(result.err) == f"error: remote origin: cannot connect to {endpoint}"


def test_missing_bucket_is_one_clear_line(
    ws: Path, s3_bucket: S3Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "s3://no-such-bucket-here/prefix"
    add_remote(url, s3_bucket.endpoint)
    (ws / "model.bin").write_bytes(b"weights")
    assert cli("add", "model.bin").code == 0
    result = cli("push")
    assert result.code == 1
    assert one_error_line(result.err) == (
        f"error: remote origin: bucket 'no-such-bucket-here' does not exist at {s3_bucket.endpoint}"
    )
    fresh_workspace(ws, tmp_path / "other", url, s3_bucket.endpoint, monkeypatch)
    result = cli("pull")
    assert result.code == 1
    assert "bucket 'no-such-bucket-here' does not exist" in one_error_line(result.err)


def test_refused_credentials_are_one_line_without_secrets(
    ws: Path, s3_bucket: S3Bucket, moto_enforces_auth: None
) -> None:
    add_remote(f"s3://{s3_bucket.name}/prefix", s3_bucket.endpoint)
    (ws / ".lockstep" / "config.local.toml").write_text(
        '[remote.origin]\naccess_key_id = "AKIDNOTAKEY"\nsecret_access_key = "very-secret-value"\n'
    )
    (ws / "model.bin").write_bytes(b"weights")
    assert cli("add", "model.bin").code == 0
    result = cli("push")
    assert result.code == 1
    line = one_error_line(result.err)
    assert line.startswith(f"error: remote origin: access denied to s3://{s3_bucket.name}/")
    assert "very-secret-value" not in result.err + result.out


# --- the remote itself ------------------------------------------------------------------


def remote_for(s3_bucket: S3Bucket, prefix: str = "p") -> S3Remote:
    config = RemoteConfig(url=f"s3://{s3_bucket.name}/{prefix}", endpoint_url=s3_bucket.endpoint)
    remote = open_remote("origin", config)
    assert isinstance(remote, S3Remote)
    return remote


def test_present_heads_few_and_lists_many(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    blobs = {sha256(b"%d" % i): b"%d" % i for i in range(100)}
    stored = sorted(blobs)[::2]
    remote = remote_for(s3_bucket)

    def upload(digest: str) -> None:
        src = tmp_path / digest
        src.write_bytes(blobs[digest])
        remote.upload(digest, src, len(blobs[digest]))

    with ThreadPoolExecutor(max_workers=16) as pool:  # one remote shared by threads
        list(pool.map(upload, stored))
    misplaced = sorted(blobs)[1]
    s3_bucket.write(f"p/blobs/sha256/zz/{misplaced}", blobs[misplaced])
    assert remote.present(set(blobs)) == set(stored)  # listed
    few = set(sorted(blobs)[:10])
    assert remote.present(few) == few & set(stored)  # one HEAD each
    assert remote.present(set()) == set()
    remote.close()


def test_download_from_an_offset_and_missing_objects(s3_bucket: S3Bucket, tmp_path: Path) -> None:
    data = os.urandom(BLOCK + 100)
    digest = sha256(data)
    (tmp_path / "src").write_bytes(data)
    empty = sha256(b"")
    (tmp_path / "empty").write_bytes(b"")
    remote = remote_for(s3_bucket, prefix="")
    remote.upload(digest, tmp_path / "src", len(data))
    remote.upload(empty, tmp_path / "empty", 0)
    assert s3_bucket.keys() == {
        f"blobs/sha256/{digest[:2]}/{digest}",
        f"blobs/sha256/{empty[:2]}/{empty}",
    }
    assert b"".join(remote.download(digest)) == data
    assert b"".join(remote.download(digest, 1000)) == data[1000:]
    assert b"".join(remote.download(digest, len(data))) == b""
    assert b"".join(remote.download(empty)) == b""
    with pytest.raises(MissingObjectsError) as missing:
        list(remote.download("ab" * 32))
    assert missing.value.digests == ["ab" * 32]
    remote.close()


def test_url_without_bucket_is_refused() -> None:
    with pytest.raises(RemoteError, match="no bucket"):
        S3Remote("origin", RemoteConfig(url="s3:///prefix"))
