"""The ``stages:`` section of ``lockstep.yaml``: parsed and checked stage by stage.

A stage, as written in ``lockstep.yaml``::

    stages:
      train:
        cmd: python train.py           # or a list of commands, run in order
        deps: [train.py, data/prepared]
        params: [train.n_estimators, seed]   # dotted keys of params.yaml
        outs: [models/model.skops]
        metrics: [metrics.json]        # outputs whose values are read into the run
        plots: [plots/roc.csv]         # outputs for plotting
        resources: {cpus: 2, gpus: 0, memory: 4GB}

Every path is relative to the workspace root. Errors name the file, the stage
and the field (``lockstep.yaml: stages.train.deps[1]: ...``).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.errors import ConfigError

FILE = "lockstep.yaml"
RESERVED = frozenset({"lockstep.yaml", "lockstep.lock", "params.yaml"})
_FIELDS = ("cmd", "deps", "params", "outs", "metrics", "plots", "resources", "desc")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_UNITS |= {"KI": 2**10, "MI": 2**20, "GI": 2**30, "TI": 2**40}


@dataclass(frozen=True)
class Resources:
    """What one run of the stage needs; a Dask worker must offer it."""

    cpus: float = 1
    gpus: float = 0
    memory: int = 0  # bytes; 0 = no claim

    def to_dict(self) -> dict[str, float]:
        return {"cpus": self.cpus, "gpus": self.gpus, "memory": self.memory}


@dataclass(frozen=True)
class Stage:
    name: str
    cmd: tuple[str, ...]
    deps: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    outs: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    resources: Resources | None = None  # None: the stage claims nothing
    desc: str | None = None

    @property
    def all_outs(self) -> tuple[str, ...]:
        """Every path the stage writes: outs, metrics and plots."""
        return self.outs + self.metrics + self.plots

    @property
    def command(self) -> str:
        return " && ".join(self.cmd)


def parse_stages(section: Mapping[str, Any]) -> dict[str, Stage]:
    """Every stage of the ``stages:`` mapping, checked; in file order."""
    stages = {}
    for name, body in section.items():
        where = f"stages.{name}"
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise ConfigError(FILE, where, "a stage name uses letters, digits, '_', '-', '.'")
        stages[name] = parse_stage(name, body)
    return stages


def parse_stage(name: str, body: object) -> Stage:
    where = f"stages.{name}"
    if not isinstance(body, dict):
        raise ConfigError(FILE, where, "must be a mapping with at least 'cmd'")
    for key in body:
        if key not in _FIELDS:
            known = ", ".join(_FIELDS)
            raise ConfigError(FILE, f"{where}.{key}", f"unknown field (known: {known})")
    if "cmd" not in body:
        raise ConfigError(FILE, f"{where}.cmd", "is required")
    stage = Stage(
        name=name,
        cmd=_commands(body["cmd"], f"{where}.cmd"),
        deps=_list(body.get("deps"), f"{where}.deps", _path),
        params=_list(body.get("params"), f"{where}.params", _param_key),
        outs=_list(body.get("outs"), f"{where}.outs", _path),
        metrics=_list(body.get("metrics"), f"{where}.metrics", _path),
        plots=_list(body.get("plots"), f"{where}.plots", _path),
        resources=_resources(body.get("resources"), f"{where}.resources"),
        desc=_optional_text(body.get("desc"), f"{where}.desc"),
    )
    _check_outs(stage, where)
    return stage


def _check_outs(stage: Stage, where: str) -> None:
    """An output may not be a lockstep or Git file, nor overlap the stage's own deps."""
    for out in stage.all_outs:
        top = out.split("/", 1)[0]
        if top in RESERVED or out.rpartition("/")[2] == ".gitignore":
            raise ConfigError(FILE, f"{where}.outs", f"{out!r} is a file lockstep or Git owns")
        for dep in stage.deps:
            if out == dep or out.startswith(dep + "/") or dep.startswith(out + "/"):
                raise ConfigError(
                    FILE,
                    f"{where}.outs",
                    f"{out!r} overlaps the stage's own dependency {dep!r}; a stage cannot "
                    "read what it writes (the output is removed before the stage runs)",
                )


def _commands(value: object, where: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConfigError(FILE, where, "must name at least one command")
    for i, item in enumerate(items):
        if not isinstance(item, str) or not item.strip():
            label = f"{where}[{i}]" if isinstance(value, list) else where
            raise ConfigError(FILE, label, "must be a non-empty command string")
    return tuple(items)


def _list(value: object, where: str, check: Callable[[object, str], str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(FILE, where, "must be a list")
    items = tuple(check(item, f"{where}[{i}]") for i, item in enumerate(value))
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item in seen:
            raise ConfigError(FILE, f"{where}[{i}]", f"{item!r} is listed twice")
        seen.add(item)
    return items


def _path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(FILE, where, "must be a path (a non-empty string)")
    if value.startswith("/") or "\\" in value:
        raise ConfigError(FILE, where, f"{value!r} must be a relative POSIX path")
    normal = posixpath.normpath(value)
    top = normal.split("/", 1)[0]
    if normal in (".", "") or top == "..":
        raise ConfigError(FILE, where, f"{value!r} must name something inside the workspace")
    if top in (".git", ".lockstep"):
        raise ConfigError(FILE, where, f"{value!r} is inside {top}/")
    return normal


def _param_key(value: object, where: str) -> str:
    if not isinstance(value, str) or not value or any(not p for p in value.split(".")):
        raise ConfigError(FILE, where, "must be a dotted key of params.yaml, like train.lr")
    return value


def _optional_text(value: object, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ConfigError(FILE, where, "must be a string")


def _resources(value: object, where: str) -> Resources | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(FILE, where, "must be a mapping of cpus, gpus, memory")
    for key in value:
        if key not in ("cpus", "gpus", "memory"):
            raise ConfigError(FILE, f"{where}.{key}", "unknown resource (cpus, gpus, memory)")
    return Resources(
        cpus=_amount(value.get("cpus", 1), f"{where}.cpus"),
        gpus=_amount(value.get("gpus", 0), f"{where}.gpus"),
        memory=parse_size(value.get("memory", 0), f"{where}.memory"),
    )


def _amount(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(FILE, where, f"must be a number >= 0, not {value!r}")
    return float(value)


def parse_size(value: object, where: str) -> int:
    """Bytes from ``4GB``, ``512MiB``, ``1e9`` or a plain number."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value)
    match = _SIZE.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ConfigError(FILE, where, f"must be a size like 4GB or 512MiB, not {value!r}")
    unit = (match.group(2) or "").upper().removesuffix("B")
    return int(float(match.group(1)) * _UNITS[unit])
