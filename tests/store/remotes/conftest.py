"""Real remote services for the remote tests, on 127.0.0.1, stopped after the module."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.services import Service, free_port, require

# --- OCI registry: Debian's docker-registry (distribution 2.8) -------------------------

REGISTRY_CONFIG = """\
version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:{port}
"""


class OCIRegistry:
    """``docker-registry serve`` with its storage in a temp folder; restartable on it."""

    def __init__(self, binary: str, home: Path) -> None:
        self.binary = binary
        self.home = home
        self.port = free_port()
        self.config = home / "config.yml"
        self.config.write_text(REGISTRY_CONFIG.format(root=home / "storage", port=self.port))
        self.starts = 0
        self.service: Service | None = None
        self.start()

    @property
    def log(self) -> Path:
        return self.home / f"registry-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        argv = [self.binary, "serve", str(self.config)]
        self.service = Service(argv, self.port, self.log)

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop()
            self.service = None

    def garbage_collect(self) -> str:
        """Delete every blob no tagged manifest references (the registry must be stopped)."""
        argv = [self.binary, "garbage-collect", "--delete-untagged", str(self.config)]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
        return done.stdout + done.stderr

    def url(self, repository: str) -> str:
        """The lockstep remote URL of ``repository``."""
        return f"oci://127.0.0.1:{self.port}/{repository}"

    def api(self, repository: str) -> str:
        """The distribution API base of ``repository``."""
        return f"http://127.0.0.1:{self.port}/v2/{repository}"


@pytest.fixture(scope="module")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OCIRegistry]:
    binary = require("docker-registry", "Debian package docker-registry: the OCI remote tests")
    registry = OCIRegistry(binary, tmp_path_factory.mktemp("oci-registry"))
    try:
        yield registry
    finally:
        registry.stop()


# --- S3: moto_server, one per session; a fresh bucket per test --------------------------

AWS_VARIABLES_TO_HIDE = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CA_BUNDLE",
)


def _moto_binary() -> str:
    beside = Path(sys.executable).parent / "moto_server"
    if beside.exists():
        return str(beside)
    return require("moto_server", "pip package moto[server]: the S3 remote tests")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The endpoint URL of a moto S3 server on 127.0.0.1."""
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    service = Service([_moto_binary(), "-H", "127.0.0.1", "-p", str(port)], port, log)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


@dataclass
class S3Bucket:
    endpoint: str
    name: str
    client: Any  # a boto3 S3 client with the dummy credentials

    def keys(self) -> set[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name)
        return {item["Key"] for page in pages for item in page.get("Contents", [])}

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.name, Key=key, Body=data)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Dummy credentials; no profile, region, endpoint or config file from the machine."""
    for name in AWS_VARIABLES_TO_HIDE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_bucket(moto_server: str, aws_env: None) -> S3Bucket:
    """A fresh, empty bucket on the moto server."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"lockstep-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    return S3Bucket(moto_server, name, client)


@pytest.fixture
def moto_enforces_auth(moto_server: str) -> Iterator[None]:
    """Make moto check credentials for one test (unknown keys are refused)."""

    def free_requests(count: str) -> None:
        request = urllib.request.Request(
            f"{moto_server}/moto-api/reset-auth",
            data=count.encode(),
            headers={"Content-Type": "text/plain"},  # not a form: moto reads the raw body
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    free_requests("0")
    try:
        yield
    finally:
        free_requests("inf")
