"""Kubernetes manifests: rendered, checked offline against the Kubernetes schemas, and
applied only where kubectl has a cluster; the ``kubernetes:`` settings and their errors."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import latest_version

from lockstep import __version__
from lockstep.deploy.kubernetes import (
    FILES,
    ORAS_IMAGE,
    Release,
    apply,
    render,
    resource_name,
    write,
)
from lockstep.deploy.settings import KubernetesSettings, Resources, parse_kubernetes
from lockstep.errors import ConfigError, DeployError

DIGEST = "3f" * 32
WHERE = "environments.production.kubernetes"
DNS_1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
RELEASE = Release("churn", "1.2.0", DIGEST, "production", "model.skops", "skops")
FULL = {
    "namespace": "ml",
    "image": "ghcr.io/acme/lockstep-serve:0.1.0",
    "package": "oci://registry.acme.io/models/churn",
    "replicas": 2,
    "min_replicas": 1,
    "max_replicas": 5,
    "cpu_target": 60,
    "resources": {"cpu": "500m", "memory": "1Gi"},
    "token_secret": "churn-token",
    "port": 9000,
}


def _objects(release: Release, settings: KubernetesSettings) -> dict[str, dict[str, Any]]:
    return {name: yaml.safe_load(text) for name, text in render(release, settings).items()}


def _serve(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _fetch(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["initContainers"]
    return dict(container)


# --- rendering ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("release", "body"),
    [
        (RELEASE, {"package": "oci://registry.acme.io/models/churn"}),
        (RELEASE, FULL),
        (
            Release("team/churn_v2", "0.3.1", DIGEST, "canary_eu", "", "mlflow"),
            {"package": "oci://localhost:5000/team/churn", "resources": {"cpu": 2}},
        ),
    ],
)
def test_every_manifest_passes_the_kubernetes_schema(
    release: Release, body: dict[str, Any]
) -> None:
    objects = _objects(release, parse_kubernetes(body, WHERE))
    assert list(objects) == list(FILES)
    kinds = {name: (obj["apiVersion"], obj["kind"]) for name, obj in objects.items()}
    assert kinds == {
        "deployment.yaml": ("apps/v1", "Deployment"),
        "service.yaml": ("v1", "Service"),
        "hpa.yaml": ("autoscaling/v2", "HorizontalPodAutoscaler"),
    }
    for obj in objects.values():
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_the_schema_check_is_strict() -> None:
    deployment = _objects(RELEASE, KubernetesSettings(package="oci://r.io/m/churn"))[
        "deployment.yaml"
    ]
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["path"] = "/x"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, latest_version(), strict=True)


def test_the_server_checks_the_digest_and_is_probed() -> None:
    settings = parse_kubernetes(FULL, WHERE)
    deployment = _objects(RELEASE, settings)["deployment.yaml"]
    serve = _serve(deployment)
    assert serve["image"] == "ghcr.io/acme/lockstep-serve:0.1.0"
    assert serve["command"] == [
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
    assert serve["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert serve["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert serve["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert serve["startupProbe"]["httpGet"]["path"].startswith("/v2/health/")
    assert serve["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"memory": "1Gi"},
    }
    token = next(e for e in serve["env"] if e["name"] == "LOCKSTEP_SERVE_TOKEN")
    assert token["valueFrom"] == {"secretKeyRef": {"name": "churn-token", "key": "token"}}


def test_pods_run_locked_down() -> None:
    deployment = _objects(RELEASE, parse_kubernetes(FULL, WHERE))["deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["terminationGracePeriodSeconds"] == 30
    for container in (_serve(deployment), _fetch(deployment)):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}


def test_an_init_container_pulls_the_package_into_an_empty_dir() -> None:
    deployment = _objects(RELEASE, parse_kubernetes(FULL, WHERE))["deployment.yaml"]
    fetch = _fetch(deployment)
    assert fetch["image"] == ORAS_IMAGE
    assert fetch["args"] == ["pull", "registry.acme.io/models/churn:v1.2.0", "-o", "/models"]
    pod = deployment["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models"] == {"name": "models", "emptyDir": {}}
    assert {"name": "models", "mountPath": "/models"} in fetch["volumeMounts"]
    mounts = {m["name"]: m for m in _serve(deployment)["volumeMounts"]}
    assert mounts["models"] == {"name": "models", "mountPath": "/models", "readOnly": True}


@pytest.mark.parametrize(
    ("package", "plain"),
    [
        ("oci://localhost:5000/models/churn", True),
        ("oci://127.0.0.1/models/churn", True),
        ("oci://localhost.acme.io/models/churn", False),
        ("oci://registry.acme.io:5000/models/churn", False),
    ],
)
def test_plain_http_only_for_a_registry_on_this_machine(package: str, plain: bool) -> None:
    deployment = _objects(RELEASE, KubernetesSettings(package=package))["deployment.yaml"]
    args = _fetch(deployment)["args"]
    assert args[1] == f"{package.removeprefix('oci://')}:v1.2.0"
    assert ("--plain-http" in args) is plain


def test_a_folder_is_served_from_models() -> None:
    release = Release("churn", "1.2.0", DIGEST, "production", "", "mlflow")
    deployment = _objects(release, KubernetesSettings(package="oci://r.io/m/churn"))
    assert _serve(deployment["deployment.yaml"])["command"][2] == "/models"


def test_without_a_token_secret_no_token_is_set() -> None:
    deployment = _objects(RELEASE, KubernetesSettings(package="oci://r.io/m/churn"))
    env = _serve(deployment["deployment.yaml"])["env"]
    assert "LOCKSTEP_SERVE_TOKEN" not in {e["name"] for e in env}


def test_labels_annotations_and_selectors() -> None:
    objects = _objects(RELEASE, parse_kubernetes(FULL, WHERE))
    for obj in objects.values():
        meta = obj["metadata"]
        assert meta["name"] == "churn-production"
        assert meta["namespace"] == "ml"
        assert meta["labels"] == {
            "app.kubernetes.io/name": "churn",
            "app.kubernetes.io/instance": "churn-production",
            "app.kubernetes.io/version": "1.2.0",
            "app.kubernetes.io/component": "model-server",
            "app.kubernetes.io/managed-by": "lockstep",
        }
        assert meta["annotations"]["lockstep.dev/digest"] == f"sha256:{DIGEST}"
    deployment, service, hpa = (objects[name] for name in FILES)
    template = deployment["spec"]["template"]["metadata"]
    assert template["annotations"]["prometheus.io/scrape"] == "true"
    assert template["annotations"]["prometheus.io/port"] == "9000"
    assert template["annotations"]["prometheus.io/path"] == "/metrics"
    assert template["annotations"]["lockstep.dev/digest"] == f"sha256:{DIGEST}"
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert "app.kubernetes.io/version" not in selector
    assert selector.items() <= template["labels"].items()
    assert service["spec"]["selector"] == selector
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 9000, "targetPort": "http", "protocol": "TCP"}
    ]
    assert deployment["spec"]["replicas"] == 2
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "churn-production",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 5)
    target = hpa["spec"]["metrics"][0]["resource"]
    assert target == {
        "name": "cpu",
        "target": {"type": "Utilization", "averageUtilization": 60},
    }


@pytest.mark.parametrize(
    ("model", "env", "expected"),
    [
        ("churn", "production", "churn-production"),
        ("team/churn_v2", "production", "team-churn-v2-production"),
        ("Team/Churn", "Canary_EU", "team-churn-canary-eu"),
        ("2024-churn", "prod", "m-2024-churn-prod"),
    ],
)
def test_names_are_dns_labels(model: str, env: str, expected: str) -> None:
    assert resource_name(model, env) == expected


def test_a_long_name_is_cut_and_stays_distinct() -> None:
    first = resource_name("org/" + "a" * 80, "production")
    second = resource_name("org/" + "a" * 81, "production")
    for name in (first, second):
        assert len(name) <= 63
        assert DNS_1035.fullmatch(name)
    assert first != second
    release = Release("org/" + "a" * 80, "1.0.0", DIGEST, "production", "m.onnx", "onnx")
    objects = _objects(release, KubernetesSettings(package="oci://r.io/m/x"))
    for obj in objects.values():
        kubernetes_validate.validate(obj, latest_version(), strict=True)


def test_without_a_package_render_says_where_to_set_it() -> None:
    with pytest.raises(DeployError) as caught:
        render(RELEASE, KubernetesSettings())
    assert "environments.production.kubernetes.package" in str(caught.value)
    assert "lockstep package churn@v1.2.0 --push" in str(caught.value)


@pytest.mark.parametrize(
    "fields",
    [{"digest": "sha256:" + DIGEST}, {"digest": "ab"}, {"version": "v 1"}, {"filename": "a/b"}],
)
def test_a_release_is_checked(fields: dict[str, str]) -> None:
    given = {
        "model": "churn",
        "version": "1.2.0",
        "digest": DIGEST,
        "env": "production",
        "filename": "model.skops",
        "flavor": "skops",
        **fields,
    }
    with pytest.raises(DeployError):
        Release(**given)


def test_write_puts_the_rendered_files_in_place(tmp_path: Path) -> None:
    settings = KubernetesSettings(package="oci://r.io/m/churn")
    dest = tmp_path / "k8s" / "production"
    paths = write(RELEASE, settings, dest)
    assert paths == [dest / name for name in FILES]
    rendered = render(RELEASE, settings)
    for path in paths:
        assert path.read_text(encoding="utf-8") == rendered[path.name]
    assert sorted(os.listdir(dest)) == sorted(FILES)


# --- kubectl --------------------------------------------------------------------------


@pytest.fixture
def manifests(tmp_path: Path) -> list[Path]:
    return write(RELEASE, KubernetesSettings(package="oci://r.io/m/churn"), tmp_path / "k8s")


def test_apply_without_a_context_says_why(
    manifests: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access("/usr/bin/kubectl", os.X_OK):
        pytest.skip("kubectl is not installed")
    empty = tmp_path / "kubeconfig"
    empty.write_text("")
    monkeypatch.setenv("KUBECONFIG", str(empty))
    applied, reason = apply(manifests)
    assert applied is False
    assert "current-context" in reason
    assert f"-f {manifests[0]}" in reason


def test_apply_without_kubectl_says_why(
    manifests: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    applied, reason = apply(manifests)
    assert applied is False
    assert "kubectl is not installed" in reason


def test_a_failing_apply_raises_with_kubectl_errors(
    manifests: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not os.access("/usr/bin/kubectl", os.X_OK):
        pytest.skip("kubectl is not installed")
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "gone", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "nobody", "user": {"token": "none"}}],
        "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
        "current-context": "gone",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("KUBECONFIG", str(path))
    with pytest.raises(DeployError) as caught:
        apply(manifests)
    assert "kubectl apply to gone failed" in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)


# --- settings -------------------------------------------------------------------------


@pytest.mark.parametrize("body", [None, {}, {"package": None}])
def test_missing_settings_take_the_defaults(body: object) -> None:
    settings = parse_kubernetes(body, WHERE)
    assert settings == KubernetesSettings()
    assert settings.namespace == "default"
    assert settings.image == f"lockstep-ml:{__version__}"
    assert settings.package is None
    assert (settings.replicas, settings.min_replicas, settings.max_replicas) == (1, 1, 3)
    assert settings.cpu_target == 70
    assert settings.resources == Resources("250m", "512Mi")
    assert settings.token_secret is None
    assert settings.port == 8080


def test_every_field_is_read() -> None:
    settings = parse_kubernetes(FULL, WHERE)
    assert settings == KubernetesSettings(
        namespace="ml",
        image="ghcr.io/acme/lockstep-serve:0.1.0",
        package="oci://registry.acme.io/models/churn",
        replicas=2,
        min_replicas=1,
        max_replicas=5,
        cpu_target=60,
        resources=Resources("500m", "1Gi"),
        token_secret="churn-token",
        port=9000,
    )


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"cpu": 1}, Resources("1", "512Mi")),
        ({"cpu": "16"}, Resources("16", "512Mi")),
        ({"cpu": 0.5, "memory": 1073741824}, Resources("0.5", "1073741824")),
        ({"cpu": "1.5", "memory": "1G"}, Resources("1.5", "1G")),
        ({"memory": "128974848"}, Resources("250m", "128974848")),
        ({"memory": "129e6"}, Resources("250m", "129e6")),
    ],
)
def test_quantities_in_kubernetes_syntax(resources: object, expected: Resources) -> None:
    assert parse_kubernetes({"resources": resources}, WHERE).resources == expected


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"replica": 2}, "replica", "unknown field"),
        ({"replicas": "2"}, "replicas", "integer"),
        ({"replicas": True}, "replicas", "integer"),
        ({"replicas": 0}, "replicas", "integer"),
        ({"min_replicas": 4, "max_replicas": 2, "replicas": 3}, "min_replicas", "max_replicas"),
        ({"replicas": 4}, "replicas", "outside"),
        ({"min_replicas": 2}, "replicas", "outside"),
        ({"cpu_target": 0}, "cpu_target", "integer"),
        ({"cpu_target": 150}, "cpu_target", "integer"),
        ({"port": 0}, "port", "integer"),
        ({"port": 70000}, "port", "integer"),
        ({"port": "8080"}, "port", "integer"),
        ({"namespace": "ML"}, "namespace", "DNS-1123"),
        ({"namespace": "a_b"}, "namespace", "DNS-1123"),
        ({"namespace": "x" * 64}, "namespace", "DNS-1123"),
        ({"token_secret": "Churn_Token"}, "token_secret", "DNS-1123"),
        ({"token_secret": 7}, "token_secret", "DNS-1123"),
        ({"image": "Lockstep Serve"}, "image", "image reference"),
        ({"image": ""}, "image", "image reference"),
        ({"package": "registry.acme.io/models/churn"}, "package", "oci://"),
        ({"package": "oci://registry.acme.io/models/churn:v1"}, "package", "no tag"),
        ({"package": "oci://registry.acme.io"}, "package", "oci://"),
        ({"package": "oci://registry.acme.io/Models"}, "package", "lowercase"),
        ({"package": "oci://registry.acme.io:99999/models"}, "package", "65535"),
        ({"resources": {"cpu": "half"}}, "resources.cpu", "CPU quantity"),
        ({"resources": {"cpu": "0m"}}, "resources.cpu", "more than zero"),
        ({"resources": {"cpu": "0.0001"}}, "resources.cpu", "CPU quantity"),
        ({"resources": {"memory": "512m"}}, "resources.memory", "Mi"),
        ({"resources": {"memory": "1GB"}}, "resources.memory", "memory quantity"),
        ({"resources": {"memory": "0Gi"}}, "resources.memory", "more than zero"),
        ({"resources": {"memory": True}}, "resources.memory", "memory quantity"),
        ({"resources": {"gpu": 1}}, "resources.gpu", "unknown field"),
        ({"resources": "500m"}, "resources", "mapping"),
    ],
)
def test_a_wrong_field_is_named(body: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_kubernetes(body, WHERE)
    assert caught.value.file == "lockstep.yaml"
    assert caught.value.field == f"{WHERE}.{field}"
    assert problem in caught.value.problem


@pytest.mark.parametrize("body", [[], "ml", 3])
def test_a_section_that_is_not_a_mapping_is_named(body: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_kubernetes(body, WHERE)
    assert caught.value.field == WHERE
