"""The ``kubernetes:`` and ``container:`` sections of an environment in ``lockstep.yaml``::

    environments:
      production:
        target: kubernetes
        kubernetes:                     # every field optional
          namespace: ml
          image: ghcr.io/acme/lockstep-serve:0.1.0
          package: oci://registry.acme.io/models/churn   # pushed as :v<version>
          replicas: 2
          min_replicas: 1
          max_replicas: 5
          cpu_target: 70
          resources: {cpu: "500m", memory: "1Gi"}
          token_secret: churn-token
          port: 8080
        container:
          base_image: python:3.11-slim
          image: churn-serve            # a repository; the tag is v<version>
          port: 8080

Each field is checked on its own; an error names the file and the dotted field
(``environments.production.kubernetes.replicas``). A missing section, or a field
left empty, takes the default.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lockstep import __version__
from lockstep.errors import ConfigError

FILE = "lockstep.yaml"

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HOST = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
_PORT = r"(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = rf"(?:{_HOST}{_PORT}/)?{_COMPONENT}(?:/{_COMPONENT})*"
REPOSITORY = re.compile(_REPOSITORY)
_TAG = r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
_DIGEST = r"(?:@sha256:[0-9a-f]{64})?"
IMAGE = re.compile(f"{_REPOSITORY}{_TAG}{_DIGEST}")
PACKAGE = re.compile(f"oci://{_HOST}(?P<port>{_PORT})/{_COMPONENT}(?:/{_COMPONENT})*")
CPU = re.compile(r"(?:[0-9]+(?:\.[0-9]{1,3})?|\.[0-9]{1,3}|[0-9]+m)")
MEMORY = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?:[KMGTPE]i|[kMGTPE]|[eE][0-9]+)?")


@dataclass(frozen=True)
class Resources:
    """Requests of the serving container; its memory limit equals the memory request."""

    cpu: str = "250m"
    memory: str = "512Mi"


@dataclass(frozen=True)
class KubernetesSettings:
    namespace: str = "default"
    image: str = f"lockstep-ml:{__version__}"  # the server image, lockstep-ml installed
    package: str | None = None  # oci://host[:port]/repo; the version is pushed as :v<version>
    replicas: int = 1
    min_replicas: int = 1
    max_replicas: int = 3
    cpu_target: int = 70  # the HPA's average CPU utilisation, % of the request
    resources: Resources = field(default_factory=Resources)
    token_secret: str | None = None  # a Secret whose key 'token' is the bearer token
    port: int = 8080


@dataclass(frozen=True)
class ContainerSettings:
    base_image: str = "python:3.11-slim"
    image: str | None = None  # a repository; None: the model's name, '/' -> '-'
    port: int = 8080

    def repository(self, model: str) -> str:
        """The image repository: the one set, or one made from the model's name."""
        if self.image:
            return self.image
        return model.lower().replace("/", "-")

    def tag(self, model: str, version: str) -> str:
        """``REPOSITORY:v<version>``."""
        return f"{self.repository(model)}:v{version}"


# --- checks: each takes the value and its dotted field, returns the value to keep -----

Check = Callable[[object, str], Any]


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(FILE, where, problem)


def _integer(value: object, where: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(where, f"must be an integer from {low} to {high}, not {value!r}")
    return value


def _count(value: object, where: str) -> int:
    return _integer(value, where, 1, 1000)


def _port(value: object, where: str) -> int:
    return _integer(value, where, 1, 65535)


def _percent(value: object, where: str) -> int:
    return _integer(value, where, 1, 100)


def _text(value: object, where: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(where, f"{value!r} is not {what}")
    return value


def _namespace(value: object, where: str) -> str:
    return _text(value, where, DNS_LABEL, "a DNS-1123 label (a-z, 0-9, '-'; at most 63)")


def _secret(value: object, where: str) -> str:
    name = _text(value, where, DNS_SUBDOMAIN, "a Secret name (DNS-1123: a-z, 0-9, '-', '.')")
    if len(name) > 253:
        raise _fail(where, "a Secret name has at most 253 characters")
    return name


def _image(value: object, where: str) -> str:
    return _text(value, where, IMAGE, "an image reference (registry/repository:tag)")


def _repository(value: object, where: str) -> str:
    what = "an image repository without a tag (lowercase; the tag is v<version>)"
    return _text(value, where, REPOSITORY, what)


def _package(value: object, where: str) -> str:
    what = "oci://HOST[:PORT]/REPOSITORY (lowercase, no tag: the tag is v<version>)"
    text = _text(value, where, PACKAGE, what)
    match = PACKAGE.fullmatch(text)
    if match and match["port"]:
        _port(int(match["port"][1:]), where)
    return text


def _quantity(value: object, where: str, pattern: re.Pattern[str], what: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = (
            format(value, "f").rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        )
    text = _text(value, where, pattern, what)
    if not any(ch in "123456789" for ch in text.split("e")[0].split("E")[0]):
        raise _fail(where, "must be more than zero")
    return text


def _cpu(value: object, where: str) -> str:
    return _quantity(value, where, CPU, "a CPU quantity (cores such as 0.5 or 2, or 500m)")


def _memory(value: object, where: str) -> str:
    if isinstance(value, str) and value.endswith("m"):
        raise _fail(where, f"{value!r} is in millibytes: write Mi (mebibytes) or M (megabytes)")
    return _quantity(value, where, MEMORY, "a memory quantity (such as 512Mi, 1Gi or 1G)")


def _resources(value: object, where: str) -> Resources:
    given = _mapping(value, where, {"cpu": _cpu, "memory": _memory})
    return Resources(**given)


KUBERNETES: dict[str, Check] = {
    "namespace": _namespace,
    "image": _image,
    "package": _package,
    "replicas": _count,
    "min_replicas": _count,
    "max_replicas": _count,
    "cpu_target": _percent,
    "resources": _resources,
    "token_secret": _secret,
    "port": _port,
}
CONTAINER: dict[str, Check] = {
    "base_image": _image,
    "image": _repository,
    "port": _port,
}


def _mapping(body: object, where: str, checks: Mapping[str, Check]) -> dict[str, Any]:
    """The checked fields given in ``body``; fields left empty are not given."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise _fail(where, f"must be a mapping (fields: {', '.join(checks)})")
    for key in body:
        if key not in checks:
            raise _fail(f"{where}.{key}", f"unknown field (known: {', '.join(checks)})")
    return {
        key: checks[key](value, f"{where}.{key}")
        for key, value in body.items()
        if value is not None
    }


def parse_kubernetes(body: object, where: str) -> KubernetesSettings:
    """The ``kubernetes:`` section at ``where`` (``environments.ENV.kubernetes``)."""
    settings = KubernetesSettings(**_mapping(body, where, KUBERNETES))
    low, high = settings.min_replicas, settings.max_replicas
    if low > high:
        raise _fail(f"{where}.min_replicas", f"{low} is more than max_replicas ({high})")
    if not low <= settings.replicas <= high:
        raise _fail(
            f"{where}.replicas",
            f"{settings.replicas} is outside min_replicas..max_replicas ({low}..{high})",
        )
    return settings


def parse_container(body: object, where: str) -> ContainerSettings:
    """The ``container:`` section at ``where`` (``environments.ENV.container``)."""
    return ContainerSettings(**_mapping(body, where, CONTAINER))
