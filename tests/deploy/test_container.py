"""Container build contexts: the Dockerfile runs the digest-checked server as a
non-root user, the model is copied exactly, requirements are pinned to what is
installed; ``build`` says what to run when buildah is missing."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import pytest

from lockstep.deploy.container import build, build_context, pinned_requirements
from lockstep.deploy.kubernetes import Release
from lockstep.deploy.settings import ContainerSettings, parse_container
from lockstep.errors import ConfigError, DeployError

DIGEST = "5e" * 32
WHERE = "environments.production.container"
RELEASE = Release("team/churn_v2", "1.2.0", DIGEST, "production", "model.skops", "skops")


def _instruction(dockerfile: str, name: str) -> list[str]:
    return [line for line in dockerfile.splitlines() if line.startswith(f"{name} ")]


def _entrypoint(dockerfile: str) -> list[str]:
    (line,) = _instruction(dockerfile, "ENTRYPOINT")
    parsed: list[str] = json.loads(line.removeprefix("ENTRYPOINT "))
    return parsed


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "models" / "model.skops"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"PK\x03\x04 not really a model" * 100)
    return path


def test_a_file_model_context(model_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "context"
    requirements = ["lockstep-ml==0.1.0", "scikit-learn==1.9.1"]
    settings = ContainerSettings(port=9000)
    paths = build_context(RELEASE, settings, model_file, dest, requirements)
    assert paths == [
        dest / "Dockerfile",
        dest / "requirements.txt",
        dest / ".dockerignore",
        dest / "model" / "model.skops",
    ]
    assert (dest / "model" / "model.skops").read_bytes() == model_file.read_bytes()
    assert (dest / "requirements.txt").read_text() == "lockstep-ml==0.1.0\nscikit-learn==1.9.1\n"
    ignore = (dest / ".dockerignore").read_text().splitlines()
    assert ignore == ["*", "!Dockerfile", "!requirements.txt", "!model"]

    dockerfile = (dest / "Dockerfile").read_text()
    assert _instruction(dockerfile, "FROM") == ["FROM python:3.11-slim"]
    (user,) = _instruction(dockerfile, "USER")
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert "pip install --no-cache-dir -r /tmp/requirements.txt" in dockerfile
    (copy_model,) = [line for line in _instruction(dockerfile, "COPY") if "model/" in line]
    assert json.loads(copy_model.removeprefix("COPY ")) == [
        "model/model.skops",
        "/models/model.skops",
    ]
    assert _instruction(dockerfile, "EXPOSE") == ["EXPOSE 9000"]
    assert "http://127.0.0.1:9000/v2/health/ready" in dockerfile
    assert "urllib.request" in dockerfile
    assert "HEALTHCHECK" in dockerfile
    assert _entrypoint(dockerfile) == [
        "lockstep",
        "serve",
        "/models/model.skops",
        "--digest",
        f"sha256:{DIGEST}",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
    ]
    assert 'org.opencontainers.image.version="1.2.0"' in dockerfile
    assert 'org.opencontainers.image.title="team/churn_v2"' in dockerfile
    assert f'dev.lockstep.model.digest="sha256:{DIGEST}"' in dockerfile
    assert 'dev.lockstep.model.flavor="skops"' in dockerfile


def test_the_steps_run_in_an_order_that_works(model_file: Path, tmp_path: Path) -> None:
    build_context(RELEASE, ContainerSettings(), model_file, tmp_path / "c", [])
    steps = [
        line.split()[0]
        for line in (tmp_path / "c" / "Dockerfile").read_text().splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    assert steps[0] == "FROM"
    assert steps.index("RUN") < steps.index("USER") < steps.index("ENTRYPOINT")
    assert steps[-1] == "ENTRYPOINT"


def test_the_package_file_name_is_kept(model_file: Path, tmp_path: Path) -> None:
    release = Release("churn", "1.0.0", DIGEST, "staging", "churn.skops", "skops")
    paths = build_context(release, ContainerSettings(), model_file, tmp_path / "c", [])
    assert paths[-1] == tmp_path / "c" / "model" / "churn.skops"
    dockerfile = (tmp_path / "c" / "Dockerfile").read_text()
    assert _entrypoint(dockerfile)[2] == "/models/churn.skops"


def test_a_folder_model_is_copied_whole(tmp_path: Path) -> None:
    folder = tmp_path / "mlflow-model"
    (folder / "sub").mkdir(parents=True)
    (folder / "MLmodel").write_text("flavors: {}\n")
    (folder / "sub" / "weights.bin").write_bytes(bytes(range(256)))
    (folder / "run.sh").write_text("#!/bin/sh\n")
    (folder / "run.sh").chmod(0o755)
    (folder / ".MLmodel.abc.lockstep-tmp").write_text("half written")
    release = Release("churn", "2.0.0", DIGEST, "production", "", "mlflow")
    dest = tmp_path / "c"
    paths = build_context(release, ContainerSettings(), folder, dest, [])
    assert paths[-1] == dest / "model"
    copied = sorted(str(p.relative_to(dest / "model")) for p in (dest / "model").rglob("*"))
    assert copied == ["MLmodel", "run.sh", "sub", "sub/weights.bin"]
    assert (dest / "model" / "sub" / "weights.bin").read_bytes() == bytes(range(256))
    assert os.stat(dest / "model" / "run.sh").st_mode & 0o777 == 0o755
    assert os.stat(dest / "model" / "MLmodel").st_mode & 0o777 == 0o644
    dockerfile = (dest / "Dockerfile").read_text()
    assert 'COPY ["model/", "/models/"]' in dockerfile
    assert _entrypoint(dockerfile)[2:5] == ["/models", "--digest", f"sha256:{DIGEST}"]


def test_writing_again_replaces_the_model(model_file: Path, tmp_path: Path) -> None:
    dest = tmp_path / "c"
    (dest / "model").mkdir(parents=True)
    (dest / "model" / "stale.pkl").write_bytes(b"old")
    build_context(RELEASE, ContainerSettings(), model_file, dest, [])
    build_context(RELEASE, ContainerSettings(), model_file, dest, [])
    assert sorted(os.listdir(dest / "model")) == ["model.skops"]
    assert sorted(os.listdir(dest)) == [".dockerignore", "Dockerfile", "model", "requirements.txt"]


def test_a_missing_model_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DeployError):
        build_context(RELEASE, ContainerSettings(), tmp_path / "nope", tmp_path / "c", [])


# --- requirements ---------------------------------------------------------------------


def _pinned(lines: list[str]) -> dict[str, str]:
    return dict(line.split("==") for line in lines)


@pytest.mark.parametrize(
    ("flavor", "needs"),
    [
        ("skops", {"scikit-learn", "skops"}),
        ("joblib", {"scikit-learn", "joblib"}),
        ("lightgbm", {"lightgbm"}),
        ("onnx", {"onnxruntime"}),
    ],
)
def test_requirements_pin_what_is_installed(flavor: str, needs: set[str]) -> None:
    pinned = _pinned(pinned_requirements(flavor))
    server = {"lockstep-ml", "fastapi", "uvicorn", "prometheus-client", "numpy", "pandas"}
    for name in server | {"pyarrow"} | needs:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            assert name not in pinned
        else:
            assert pinned[name] == version


def test_xgboost_is_pinned_under_the_name_it_was_installed_as() -> None:
    pinned = _pinned(pinned_requirements("xgboost"))
    found = {name for name in ("xgboost", "xgboost-cpu") if name in pinned}
    assert len(found) <= 1
    for name in found:
        assert pinned[name] == metadata.version(name)


def test_an_unknown_flavor_needs_only_the_server() -> None:
    pinned = _pinned(pinned_requirements("unknown"))
    assert "lockstep-ml" in pinned
    assert not {"scikit-learn", "skops", "onnxruntime", "lightgbm"} & set(pinned)
    assert len(pinned_requirements("skops")) == len(set(pinned_requirements("skops")))


# --- build ----------------------------------------------------------------------------


def test_build_without_buildah_says_what_to_run(
    model_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = tmp_path / "c"
    build_context(RELEASE, ContainerSettings(), model_file, dest, [])
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    built, message = build(dest, "team-churn_v2:v1.2.0")
    assert built is False
    assert message.startswith("buildah is not installed")
    assert f"-t team-churn_v2:v1.2.0 {dest}" in message


def test_build_needs_a_context(tmp_path: Path) -> None:
    with pytest.raises(DeployError):
        build(tmp_path, "x:v1")


# --- settings -------------------------------------------------------------------------


def test_container_defaults() -> None:
    settings = parse_container(None, WHERE)
    assert settings == ContainerSettings()
    assert settings.base_image == "python:3.11-slim"
    assert settings.port == 8080
    assert settings.repository("team/churn_v2") == "team-churn_v2"
    assert settings.tag("team/churn_v2", "1.2.0") == "team-churn_v2:v1.2.0"


def test_container_fields_are_read() -> None:
    body = {"base_image": "python:3.12-slim@sha256:" + "0" * 64, "image": "churn-serve", "port": 80}
    settings = parse_container(body, WHERE)
    assert settings.base_image == body["base_image"]
    assert settings.tag("churn", "1.0.0") == "churn-serve:v1.0.0"
    assert settings.port == 80
    registry = parse_container({"image": "localhost:5000/ml/churn-serve"}, WHERE)
    assert registry.repository("churn") == "localhost:5000/ml/churn-serve"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"image": "churn-serve:v1"}, "image", "without a tag"),
        ({"image": "Churn"}, "image", "lowercase"),
        ({"base_image": "python 3.11"}, "base_image", "image reference"),
        ({"base_image": 3.11}, "base_image", "image reference"),
        ({"port": 65536}, "port", "integer"),
        ({"tag": "v1"}, "tag", "unknown field"),
    ],
)
def test_a_wrong_container_field_is_named(
    body: dict[str, object], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_container(body, WHERE)
    assert caught.value.field == f"{WHERE}.{field}"
    assert problem in caught.value.problem
