"""Kubernetes manifests for one model version in one environment, and ``kubectl apply``.

Three files, named ``<model>-<env>`` (DNS-1123, at most 63 characters)::

    deployment.yaml   apps/v1 Deployment: an init container (oras) pulls the
                      version's package, pushed as <package>:v<version>, into an
                      emptyDir at /models; the server runs
                      lockstep serve /models/<file> --digest sha256:<hex> ...
                      and refuses to load bytes whose digest differs
    service.yaml      v1 Service (ClusterIP) on the server's port
    hpa.yaml          autoscaling/v2 HorizontalPodAutoscaler on average CPU

Every object carries the ``app.kubernetes.io`` labels (the version as
``app.kubernetes.io/version``) and the digest as the annotation
``lockstep.dev/digest``; pods are annotated for Prometheus scraping of /metrics.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from lockstep import fs
from lockstep.deploy.settings import KubernetesSettings
from lockstep.errors import DeployError

ORAS_IMAGE = "ghcr.io/oras-project/oras:v1.2.3"
MODELS = "/models"
USER_ID = 65532  # any non-root id: the images need no user of their own
FILES = ("deployment.yaml", "service.yaml", "hpa.yaml")
KUBECTL_TIMEOUT = 300
_DIGEST = re.compile(r"[0-9a-f]{64}")
_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
_PLAIN_HTTP_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Release:
    """One model version bound for one environment."""

    model: str
    version: str
    digest: str  # 64 hex: the model's digest, checked by the server before loading
    env: str
    filename: str  # the model's file name inside the package; "" for a folder
    flavor: str

    def __post_init__(self) -> None:
        if not _DIGEST.fullmatch(self.digest):
            raise DeployError(f"{self.ref}: digest {self.digest!r} is not 64 hex digits")
        if not _LABEL_VALUE.fullmatch(self.version):
            raise DeployError(f"{self.ref}: version {self.version!r} cannot be a label value")
        if "/" in self.filename or self.filename in (".", ".."):
            raise DeployError(f"{self.ref}: {self.filename!r} is not a file name")

    @property
    def ref(self) -> str:
        return f"{self.model}@v{self.version}"

    @property
    def model_path(self) -> str:
        """Where the server finds the model inside the container."""
        return f"{MODELS}/{self.filename}" if self.filename else MODELS


def resource_name(model: str, env: str) -> str:
    """``<model>-<env>`` as a DNS-1035 label: lowercase, '/' and '_' as '-', at most 63
    characters (a long name keeps a hash of the whole), starting with a letter."""
    return _dns_label(f"{model}-{env}")


def _dns_label(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]", "-", text.lower()).strip("-") or "model"
    if not name[0].isalpha():
        name = f"m-{name}"
    if len(name) > 63:
        name = f"{name[:54].rstrip('-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
    return name


def package_ref(settings: KubernetesSettings, version: str) -> str:
    """``host[:port]/repository:v<version>``, as oras takes it."""
    if settings.package is None:
        raise DeployError("no package set")
    return f"{settings.package.removeprefix('oci://')}:v{version}"


def _plain_http(package: str) -> bool:
    """A registry on this machine is reached over plain HTTP, as lockstep's own client does."""
    return urlsplit(package).hostname in _PLAIN_HTTP_HOSTS


# --- the objects ----------------------------------------------------------------------


def _labels(release: Release, name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": _dns_label(release.model),
        "app.kubernetes.io/instance": name,
        "app.kubernetes.io/version": release.version,
        "app.kubernetes.io/component": "model-server",
        "app.kubernetes.io/managed-by": "lockstep",
    }


def _selector(labels: dict[str, str]) -> dict[str, str]:
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/instance")
    return {key: labels[key] for key in keys}


def _annotations(release: Release) -> dict[str, str]:
    return {
        "lockstep.dev/model": release.model,
        "lockstep.dev/version": release.version,
        "lockstep.dev/environment": release.env,
        "lockstep.dev/digest": f"sha256:{release.digest}",
        "lockstep.dev/flavor": release.flavor,
    }


def _metadata(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    name = resource_name(release.model, release.env)
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": _labels(release, name),
        "annotations": _annotations(release),
    }


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def _fetch_container(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    args = ["pull", package_ref(settings, release.version), "-o", MODELS]
    if _plain_http(settings.package or ""):
        args.append("--plain-http")
    return {
        "name": "fetch-model",
        "image": ORAS_IMAGE,
        "args": args,
        "env": [{"name": "HOME", "value": "/tmp"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "64Mi"},
            "limits": {"memory": "256Mi"},
        },
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def serve_command(path: str, digest: str, port: int) -> list[str]:
    """The server's command line inside a container: the model at ``path`` must hash to
    ``digest`` (64 hex)."""
    return [
        "lockstep",
        "serve",
        path,
        "--digest",
        f"sha256:{digest}",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
    ]


def _env(settings: KubernetesSettings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "HOME", "value": "/tmp"},
        {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
    ]
    if settings.token_secret:
        secret = {"name": settings.token_secret, "key": "token"}
        env.append({"name": "LOCKSTEP_SERVE_TOKEN", "valueFrom": {"secretKeyRef": secret}})
    return env


def _serve_container(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    resources = settings.resources
    return {
        "name": "serve",
        "image": settings.image,
        "command": serve_command(release.model_path, release.digest, settings.port),
        "ports": [{"name": "http", "containerPort": settings.port, "protocol": "TCP"}],
        "env": _env(settings),
        "startupProbe": _probe("/v2/health/live", 2, 60),
        "readinessProbe": _probe("/v2/health/ready", 5, 3),
        "livenessProbe": _probe("/v2/health/live", 10, 3),
        "resources": {
            "requests": {"cpu": resources.cpu, "memory": resources.memory},
            "limits": {"memory": resources.memory},
        },
        "securityContext": _container_security(),
        "volumeMounts": [
            {"name": "models", "mountPath": MODELS, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def _pod(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "initContainers": [_fetch_container(release, settings)],
        "containers": [_serve_container(release, settings)],
        "volumes": [{"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
    }


def _deployment(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    metadata = _metadata(release, settings)
    template_annotations = {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(settings.port),
        "prometheus.io/path": "/metrics",
        **_annotations(release),
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": settings.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": _selector(metadata["labels"])},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
            },
            "template": {
                "metadata": {"labels": metadata["labels"], "annotations": template_annotations},
                "spec": _pod(release, settings),
            },
        },
    }


def _service(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    metadata = _metadata(release, settings)
    port = {"name": "http", "port": settings.port, "targetPort": "http", "protocol": "TCP"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata,
        "spec": {
            "type": "ClusterIP",
            "selector": _selector(metadata["labels"]),
            "ports": [port],
        },
    }


def _hpa(release: Release, settings: KubernetesSettings) -> dict[str, Any]:
    metadata = _metadata(release, settings)
    target = {"type": "Utilization", "averageUtilization": settings.cpu_target}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata,
        "spec": {
            "scaleTargetRef": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": metadata["name"],
            },
            "minReplicas": settings.min_replicas,
            "maxReplicas": settings.max_replicas,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": target}}],
        },
    }


class _Dumper(yaml.SafeDumper):
    """Writes a mapping used twice in full, not as an anchor and an alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


# --- files and kubectl ----------------------------------------------------------------


def render(release: Release, settings: KubernetesSettings) -> dict[str, str]:
    """File name -> YAML text of the Deployment, the Service and the HPA."""
    if settings.package is None:
        raise DeployError(
            f"{release.ref} to {release.env}: no package to pull; set "
            f"environments.{release.env}.kubernetes.package in lockstep.yaml (oci://HOST/REPO) "
            f"and push the version there (lockstep package {release.ref} --push "
            f"oci://HOST/REPO:v{release.version})"
        )
    header = (
        f"# {release.ref} in {release.env} (sha256:{release.digest[:12]}...), "
        "rendered by lockstep: render it again rather than edit it\n"
    )
    objects = (_deployment, _service, _hpa)
    return {
        name: header + yaml.dump(build(release, settings), Dumper=_Dumper, sort_keys=False)
        for name, build in zip(FILES, objects, strict=True)
    }


def write(release: Release, settings: KubernetesSettings, dest: Path) -> list[Path]:
    """Render into ``dest`` (created when missing), each file replaced in one step."""
    written = []
    for name, text in render(release, settings).items():
        path = dest / name
        fs.atomic_write_text(path, text)
        written.append(path)
    return written


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _kubectl(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["kubectl", *args],
            capture_output=True,
            text=True,
            timeout=KUBECTL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(f"kubectl {args[0]} took more than {KUBECTL_TIMEOUT} s") from exc


def apply(paths: list[Path]) -> tuple[bool, str]:
    """``kubectl apply`` the files when kubectl has a current context: (True, its output);
    (False, why not) when kubectl or a context is missing. A failing apply raises."""
    by_hand = "kubectl apply " + " ".join(f"-f {path}" for path in paths)
    if shutil.which("kubectl") is None:
        return False, f"kubectl is not installed: apply the manifests with {by_hand}"
    context = _kubectl("config", "current-context")
    if context.returncode != 0:
        why = _tail(context.stderr, 1) or "no current context"
        return False, f"kubectl has no cluster to talk to ({why}): run {by_hand}"
    done = _kubectl("apply", *(arg for path in paths for arg in ("-f", str(path))))
    if done.returncode != 0:
        where = context.stdout.strip()
        raise DeployError(f"kubectl apply to {where} failed:\n{_tail(done.stderr or done.stdout)}")
    return True, done.stdout.strip()
