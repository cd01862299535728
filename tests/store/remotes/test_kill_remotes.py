"""kill -9 during push and pull to S3 and OCI remotes: every object on the remote and
in the cache still hashes to its name, and the next run finishes the job."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from tests.conftest import cli, git
from tests.store.remotes.conftest import OCIRegistry, S3Bucket
from tests.store.test_kill import DELAYS, assert_objects_sound, finish, make_data, run_and_kill

pytestmark = pytest.mark.slow


def registry_blobs_sound(registry: OCIRegistry) -> int:
    """Every blob the registry stores hashes to its digest."""
    root = registry.home / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256"
    count = 0
    for data in root.glob("*/*/data"):
        assert hashlib.sha256(data.read_bytes()).hexdigest() == data.parent.name
        count += 1
    return count


def bucket_sound(bucket: S3Bucket) -> int:
    count = 0
    for key in bucket.keys():
        assert hashlib.sha256(bucket.read(key)).hexdigest() == key.rsplit("/", 1)[1]
        count += 1
    return count


def kill_push_then_pull(ws: Path, tmp_path: Path, check_remote) -> None:  # type: ignore[no-untyped-def]
    make_data(ws)
    assert cli("add", "data", "big.bin").code == 0
    for delay in DELAYS:
        run_and_kill(["push", "--jobs", "4"], ws, delay)
        check_remote()
    finish(ws, "push")
    assert check_remote() >= 302
    git(ws, "add", "-A")
    git(ws, "commit", "-q", "-m", "data")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(ws), str(clone))
    for delay in DELAYS:
        run_and_kill(["pull", "--jobs", "4"], clone, delay)
        assert_objects_sound(clone / ".lockstep/cache/blobs/sha256")
    finish(clone, "pull")
    assert (clone / "big.bin").read_bytes() == (ws / "big.bin").read_bytes()
    assert assert_objects_sound(clone / ".lockstep/cache/blobs/sha256") == 302
    shutil.rmtree(clone)


def test_killed_oci_push_and_pull(ws: Path, tmp_path: Path, oci_registry: OCIRegistry) -> None:
    assert cli("remote", "add", "origin", oci_registry.url("kill/test")).code == 0
    kill_push_then_pull(ws, tmp_path, lambda: registry_blobs_sound(oci_registry))


def test_killed_s3_push_and_pull(ws: Path, tmp_path: Path, s3_bucket: S3Bucket) -> None:
    url = f"s3://{s3_bucket.name}/prefix"
    assert cli("remote", "add", "origin", url, "--endpoint-url", s3_bucket.endpoint).code == 0
    kill_push_then_pull(ws, tmp_path, lambda: bucket_sound(s3_bucket))
