"""Workspace configuration: ``lockstep.yaml`` and ``.lockstep/config*.toml``.

``lockstep.yaml`` (committed) describes the project: pipeline stages, models,
environments. ``.lockstep/config.toml`` (committed) holds settings a team shares:
remotes, cache options. ``.lockstep/config.local.toml`` (ignored by Git) holds
what is personal or secret (credentials) and overrides the shared file key by key.

Layout of ``.lockstep/config.toml``::

    [core]
    remote = "origin"            # default remote for push/pull/fetch

    [cache]
    link = "auto"                # auto | reflink | hardlink | copy
    jobs = 8                     # parallel transfers

    [remote.origin]
    url = "s3://bucket/prefix"   # or file:///path, oci://host[:port]/repository
    endpoint_url = "http://127.0.0.1:9000"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lockstep.errors import ConfigError, InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

PROJECT_FILE = "lockstep.yaml"
DIR = ".lockstep"
SHARED_CONFIG = "config.toml"
LOCAL_CONFIG = "config.local.toml"
SECRET_KEYS = frozenset(
    {"access_key_id", "secret_access_key", "session_token", "password", "token"}
)
REMOTE_SCHEMES = ("file", "s3", "oci")
LinkMode = Literal["auto", "reflink", "hardlink", "copy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RemoteConfig(_Strict):
    url: str
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    username: str | None = None
    password: str | None = None
    token: str | None = None
    insecure: bool = False
    jobs: int | None = Field(default=None, ge=1, le=256)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in REMOTE_SCHEMES:
            raise ValueError(f"{url!r} must start with file://, s3:// or oci://")
        return url


class CoreConfig(_Strict):
    remote: str | None = None


class CacheConfig(_Strict):
    link: LinkMode = "auto"
    jobs: int = Field(default=8, ge=1, le=256)


class Config(_Strict):
    core: CoreConfig = CoreConfig()
    cache: CacheConfig = CacheConfig()
    remote: dict[str, RemoteConfig] = {}


class ProjectFile(BaseModel):
    """``lockstep.yaml``. Later sections (stages, models, environments) are read
    by the layers that own them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: Literal[1] = 1
    stages: dict[str, Any] = {}
    models: dict[str, Any] = {}
    environments: dict[str, Any] = {}


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _validation_problem(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    return _field(first["loc"]), msg


def read_toml(path: Path, label: str) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with open(path, "rb") as handle:
            data: dict[str, Any] = tomllib.load(handle)
            return data
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(label, None, f"not valid TOML ({exc})") from exc
    except OSError as exc:
        raise ConfigError(label, None, f"cannot be read ({exc.strerror})") from exc


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``over`` into a copy of ``base``, key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(root: Path) -> Config:
    """Read the shared and the local config of the workspace at ``root``."""
    shared_label = f"{DIR}/{SHARED_CONFIG}"
    local_label = f"{DIR}/{LOCAL_CONFIG}"
    shared = read_toml(root / DIR / SHARED_CONFIG, shared_label)
    local = read_toml(root / DIR / LOCAL_CONFIG, local_label)
    for data, label in ((shared, shared_label), (local, local_label)):
        try:
            Config.model_validate(_complete_remotes(data, shared, local))
        except ValidationError as exc:
            field, problem = _validation_problem(exc)
            raise ConfigError(label, field, problem) from exc
    return Config.model_validate(merge(shared, local))


def _complete_remotes(
    data: dict[str, Any], shared: dict[str, Any], local: dict[str, Any]
) -> dict[str, Any]:
    """Validate one file alone, but let a remote's url come from the other file."""
    remotes = data.get("remote")
    if not isinstance(remotes, dict):
        return data
    both = merge(shared, local).get("remote", {})
    completed = {
        name: ({"url": both.get(name, {}).get("url", "file:///")} | body)
        if isinstance(body, dict)
        else body
        for name, body in remotes.items()
    }
    return data | {"remote": completed}


def check_remote(name: str, body: dict[str, Any]) -> RemoteConfig:
    """Validate a remote's settings before anything is written."""
    try:
        return RemoteConfig.model_validate(body)
    except ValidationError as exc:
        field, problem = _validation_problem(exc)
        raise InputError(f"remote {name}: {field}: {problem}") from exc


def load_project_file(root: Path) -> ProjectFile:
    path = root / PROJECT_FILE
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except OSError as exc:
        raise ConfigError(PROJECT_FILE, None, f"cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(PROJECT_FILE, None, f"not valid YAML ({_yaml_where(exc)})") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(PROJECT_FILE, None, "must be a mapping of sections")
    try:
        return ProjectFile.model_validate(data)
    except ValidationError as exc:
        field, problem = _validation_problem(exc)
        raise ConfigError(PROJECT_FILE, field, problem) from exc


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"line {mark.line + 1}: {problem}" if mark is not None else str(problem)


def set_value(root: Path, dotted: list[str], value: Any, *, local: bool) -> None:
    """Set one key in the shared or local config file (atomic rewrite)."""
    import tomli_w

    from lockstep.fs import atomic_write_text

    name = LOCAL_CONFIG if local else SHARED_CONFIG
    path = root / DIR / name
    data = read_toml(path, f"{DIR}/{name}")
    node = data
    for key in dotted[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(dotted[-1], None)
    else:
        node[dotted[-1]] = value
    _prune_empty(data)
    atomic_write_text(path, tomli_w.dumps(data))


def _prune_empty(data: dict[str, Any]) -> None:
    for key in list(data):
        if isinstance(data[key], dict):
            _prune_empty(data[key])
            if not data[key]:
                del data[key]
