"""``lockstep deploy`` to the kubernetes and container targets, from a registered
and promoted version: the files it writes, checked offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.conftest import cli
from tests.deploy.conftest import config


@pytest.fixture
def promoted(model_ws: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    config(
        model_ws,
        production={
            "target": "kubernetes",
            "kubernetes": {"package": "oci://registry.example:5000/models/churn", "replicas": 2},
        },
        edge={"target": "container", "container": {"image": "acme/churn"}},
    )
    for env in ("production", "edge"):
        assert cli("model", "promote", "churn@v0.0.1", "--to", env).code == 0
    empty = tmp_path / "kubeconfig"
    empty.write_text("")
    monkeypatch.setenv("KUBECONFIG", str(empty))  # no context: nothing is applied
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no buildah here either way
    return model_ws


def test_kubernetes_manifests(promoted: Path) -> None:
    import kubernetes_validate
    from kubernetes_validate.utils import latest_version

    result = cli("deploy", "churn", "--env", "production", "--json")
    assert result.code == 0, result.err
    done = json.loads(result.out)
    assert done["target"] == "kubernetes" and done["applied"] is False
    assert sorted(done["files"]) == [
        "deploy/churn/production/deployment.yaml",
        "deploy/churn/production/hpa.yaml",
        "deploy/churn/production/service.yaml",
    ]
    for rel in done["files"]:
        kubernetes_validate.validate(
            yaml.safe_load((promoted / rel).read_text()), latest_version(), strict=True
        )
    deployment = yaml.safe_load((promoted / "deploy/churn/production/deployment.yaml").read_text())
    pod = deployment["spec"]["template"]["spec"]
    init = pod["initContainers"][0]
    assert "registry.example:5000/models/churn:v0.0.1" in " ".join(init["args"])
    command = " ".join(pod["containers"][0]["command"] + pod["containers"][0].get("args", []))
    assert "--digest sha256:" in command
    assert pod["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


def test_container_context(promoted: Path) -> None:
    result = cli("deploy", "churn", "--env", "edge", "--json")
    assert result.code == 0, result.err
    done = json.loads(result.out)
    assert done["target"] == "container" and done["applied"] is False
    assert done["image"] == "acme/churn:v0.0.1"
    assert "buildah" in done["detail"]
    context = promoted / ".lockstep/deploy/churn/edge/context"
    dockerfile = (context / "Dockerfile").read_text()
    assert "ENTRYPOINT" in dockerfile and "sha256:" in dockerfile
    assert (context / "model" / "model.skops").read_bytes() == (
        promoted / "models/model.skops"
    ).read_bytes()
    assert "scikit-learn==" in (context / "requirements.txt").read_text()


def test_kubernetes_without_package_is_a_clear_error(model_ws: Path) -> None:
    config(model_ws, production={"target": "kubernetes"})
    assert cli("model", "promote", "churn@v0.0.1", "--to", "production").code == 0
    result = cli("deploy", "churn", "--env", "production")
    assert result.code == 1
    assert "environments.production.kubernetes.package" in result.err


def test_bad_settings_name_the_field(model_ws: Path) -> None:
    config(model_ws, production={"target": "kubernetes", "kubernetes": {"replicas": "two"}})
    assert cli("model", "promote", "churn@v0.0.1", "--to", "production").code == 0
    result = cli("deploy", "churn", "--env", "production")
    assert result.code == 2
    assert "environments.production.kubernetes.replicas" in result.err


def test_nothing_assigned_is_a_clear_error(model_ws: Path) -> None:
    result = cli("deploy", "churn", "--env", "staging")
    assert result.code == 2 and "staging runs no version of churn" in result.err
