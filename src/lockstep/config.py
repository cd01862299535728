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

    [tracking]
    uri = "postgresql+psycopg://host/db"   # default: sqlite:///<root>/.lockstep/runs.db

    [registry]
    remote = "origin"                 # the Git remote that registry tags are pushed to
    push = false                      # push every new registry tag (or pass --push)

    [dask]
    address = "tcp://127.0.0.1:8786"  # default: a LocalCluster on 127.0.0.1
    shared_fs = "auto"                # auto | yes | no: do workers see this workspace?

    [scan]
    allow = ["mypkg.features", "mypkg.model.Scorer"]  # globals pickles may import, beyond
                                                      # the built-in allowlist of lockstep scan

    [signing]
    key = "release"                   # the key in .lockstep/keys/ lockstep sign uses

    [serve]
    host = "127.0.0.1"                # lockstep serve's defaults (flags override)
    port = 8080
    workers = 1
    max_batch_size = 32               # adaptive batching: rows per predict call
    max_latency_ms = 2.0              # the longest a request waits for others
    log_url = "s3://bucket/monitor"   # inference log: LOG_URL/NAME/ENV (.lockstep/monitor/…)
    sample_rate = 1.0                 # share of requests logged; 0 turns the log off
    log_flush_seconds = 5.0           # the longest a logged row waits to reach a file
    # token = "..."                   # bearer token: config.local.toml or LOCKSTEP_SERVE_TOKEN
"""

from __future__ import annotations

import sys
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

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
LINK_MODES = ("auto", "reflink", "hardlink", "copy")
LinkMode = Literal["auto", "reflink", "hardlink", "copy"]
SHARED_FS_MODES = ("auto", "yes", "no")


class _InvalidError(ValueError):
    """A value that does not fit its field; ``field`` is the dotted path."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise _InvalidError(where, "must be a non-empty string")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise _InvalidError(where, "must be true or false")
    return value


def _jobs(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 256:
        raise _InvalidError(where, "must be an integer from 1 to 256")
    return value


def _optional_jobs(value: object, where: str) -> int | None:
    return None if value is None else _jobs(value, where)


def _url(value: object, where: str) -> str:
    url = _text(value, where)
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in REMOTE_SCHEMES:
        raise _InvalidError(where, f"{url!r} must start with file://, s3:// or oci://")
    return url


def _link(value: object, where: str) -> str:
    if value not in LINK_MODES:
        raise _InvalidError(where, f"must be one of {', '.join(LINK_MODES)}, not {value!r}")
    return str(value)


def _shared_fs(value: object, where: str) -> str:
    if value not in SHARED_FS_MODES:
        raise _InvalidError(where, f"must be one of {', '.join(SHARED_FS_MODES)}, not {value!r}")
    return str(value)


def _build(cls: Any, data: object, where: str) -> Any:
    """Build the dataclass ``cls`` from a mapping, checking each field with its
    ``check`` metadata; unknown keys and missing required ones are errors."""
    if not isinstance(data, dict):
        raise _InvalidError(where or "(top level)", "must be a table of settings")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            raise _InvalidError(_join(where, key), "unknown field")
    values = {}
    for name, spec in known.items():
        if name in data:
            values[name] = spec.metadata["check"](data[name], _join(where, name))
        elif spec.default is MISSING and spec.default_factory is MISSING:
            raise _InvalidError(_join(where, name), "is required")
    return cls(**values)


def _join(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _table(cls: Any) -> Any:
    """A config field holding the table ``cls``: its defaults, checked field by field."""
    return field(
        default_factory=cls, metadata={"check": lambda value, where: _build(cls, value, where)}
    )


def _setting(check: Any, default: Any = None) -> Any:
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class RemoteConfig:
    url: str = field(metadata={"check": _url})
    endpoint_url: str | None = _setting(_optional_text)
    region: str | None = _setting(_optional_text)
    profile: str | None = _setting(_optional_text)
    access_key_id: str | None = _setting(_optional_text)
    secret_access_key: str | None = _setting(_optional_text)
    session_token: str | None = _setting(_optional_text)
    username: str | None = _setting(_optional_text)
    password: str | None = _setting(_optional_text)
    token: str | None = _setting(_optional_text)
    insecure: bool = _setting(_flag, False)
    jobs: int | None = _setting(_optional_jobs)

    def __repr__(self) -> str:  # never print secrets
        return f"RemoteConfig(url={self.url!r})"


def _remotes(value: object, where: str) -> dict[str, RemoteConfig]:
    if not isinstance(value, dict):
        raise _InvalidError(where, "must be a table of remotes")
    return {name: _build(RemoteConfig, body, _join(where, name)) for name, body in value.items()}


@dataclass(frozen=True)
class CoreConfig:
    remote: str | None = _setting(_optional_text)


@dataclass(frozen=True)
class CacheConfig:
    link: LinkMode = _setting(_link, "auto")
    jobs: int = _setting(_jobs, 8)


@dataclass(frozen=True)
class TrackingConfig:
    uri: str | None = _setting(_optional_text)

    def __repr__(self) -> str:  # a database URL may hold a password
        return "TrackingConfig(...)"


@dataclass(frozen=True)
class DaskConfig:
    address: str | None = _setting(_optional_text)
    shared_fs: str = _setting(_shared_fs, "auto")


@dataclass(frozen=True)
class RegistryConfig:
    remote: str = _setting(_text, "origin")  # the Git remote registry tags go to
    push: bool = _setting(_flag, False)  # push each new tag there by default


def _dotted_names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(
        isinstance(item, str) and item and all(p.isidentifier() for p in item.split("."))
        for item in value
    ):
        raise _InvalidError(where, 'must be a list of dotted names such as "mypkg.module.Class"')
    return tuple(value)


@dataclass(frozen=True)
class ScanConfig:
    allow: tuple[str, ...] = _setting(_dotted_names, ())  # extra globals lockstep scan allows


@dataclass(frozen=True)
class SigningConfig:
    key: str | None = _setting(_optional_text)  # the default key of lockstep sign


def _port(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 65535:
        raise _InvalidError(where, "must be a port number from 1 to 65535")
    return value


def _ranged(low: float, high: float) -> Any:
    def check(value: object, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _InvalidError(where, f"must be a number from {low:g} to {high:g}")
        if not low <= value <= high:
            raise _InvalidError(where, f"must be a number from {low:g} to {high:g}")
        return float(value)

    return check


def _batch(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4096:
        raise _InvalidError(where, "must be an integer from 1 to 4096")
    return value


@dataclass(frozen=True)
class ServeConfig:
    host: str = _setting(_text, "127.0.0.1")
    port: int = _setting(_port, 8080)
    workers: int = _setting(_jobs, 1)
    token: str | None = _setting(_optional_text)  # secret: config.local.toml or the env
    max_batch_size: int = _setting(_batch, 32)
    max_latency_ms: float = _setting(_ranged(0, 1000), 2.0)
    log_url: str | None = _setting(_optional_text)
    sample_rate: float = _setting(_ranged(0, 1), 1.0)
    log_flush_seconds: float = _setting(_ranged(0.1, 3600), 5.0)

    def __repr__(self) -> str:  # never print the token
        return f"ServeConfig(host={self.host!r}, port={self.port})"


@dataclass(frozen=True)
class Config:
    core: CoreConfig = _table(CoreConfig)
    cache: CacheConfig = _table(CacheConfig)
    remote: dict[str, RemoteConfig] = field(default_factory=dict, metadata={"check": _remotes})
    tracking: TrackingConfig = _table(TrackingConfig)
    dask: DaskConfig = _table(DaskConfig)
    registry: RegistryConfig = _table(RegistryConfig)
    scan: ScanConfig = _table(ScanConfig)
    signing: SigningConfig = _table(SigningConfig)
    serve: ServeConfig = _table(ServeConfig)


def _version(value: object, where: str) -> int:
    if value != 1:
        raise _InvalidError(where, f"must be 1 (this lockstep reads version 1), not {value!r}")
    return 1


def _section(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _InvalidError(where, "must be a mapping")
    return value


@dataclass(frozen=True)
class ProjectFile:
    """``lockstep.yaml``. Later sections (stages, models, environments) are read
    by the layers that own them."""

    version: int = _setting(_version, 1)
    stages: dict[str, Any] = field(default_factory=dict, metadata={"check": _section})
    models: dict[str, Any] = field(default_factory=dict, metadata={"check": _section})
    environments: dict[str, Any] = field(default_factory=dict, metadata={"check": _section})


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
        _validate(_complete_remotes(data, shared, local), label)
    return _validate(merge(shared, local), shared_label)


def _validate(data: dict[str, Any], label: str) -> Config:
    try:
        result: Config = _build(Config, data, "")
    except _InvalidError as exc:
        raise ConfigError(label, exc.field, exc.problem) from exc
    return result


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
        result: RemoteConfig = _build(RemoteConfig, body, "")
    except _InvalidError as exc:
        raise InputError(f"remote {name}: {exc.field}: {exc.problem}") from exc
    return result


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
        result: ProjectFile = _build(ProjectFile, data, "")
    except _InvalidError as exc:
        raise ConfigError(PROJECT_FILE, exc.field, exc.problem) from exc
    return result


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
