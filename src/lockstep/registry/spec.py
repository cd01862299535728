"""``models:`` and ``environments:`` in ``lockstep.yaml``, checked entry by entry::

    models:
      churn:
        path: models/model.skops       # tracked by a pointer, or a stage's output
        schema: schemas/train.yaml     # for the data gate (optional)
        data: [data/prepared/train.csv]  # training data to check (default: the inputs
                                         # of the stage that produced the model)
    environments:
      staging:
        gates: [data]
      production:
        gates:
          - champion: {metric: f1, min_delta: 0.0, direction: max}
          - approval: {count: 1}
        reevaluate: python src/evaluate_model.py   # for champion on other eval data
        target: kubernetes                         # local (default), kubernetes, container
        kubernetes: {package: oci://registry.example/models/churn}

``models.NAME.inputs`` (a list of ``{name, type}``) or ``models.NAME.target`` (the
label column of the training data) tell registration the model's input signature;
``environments.ENV.port`` and ``smoke`` are for ``deploy`` to ``local`` (see smoke.py).

Names follow GTO: letters, digits, '-' and '_' inside (models may use ``/``).
Errors name the file, the model or environment, and the gate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import ConfigError
from lockstep.registry import fields
from lockstep.registry.fields import known, relative_path
from lockstep.registry.smoke import SmokeSpec, parse_smoke

FILE = fields.FILE
MODEL_NAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-/_]*[a-zA-Z0-9])?")  # GTO's names
ENV_NAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-_]*[a-zA-Z0-9])?")
TARGETS = ("local", "kubernetes", "container")


@dataclass(frozen=True)
class ModelSpec:
    name: str
    path: str
    schema: str | None = None
    data: tuple[str, ...] = ()
    inputs: tuple[Mapping[str, str], ...] = ()  # the input signature, when declared
    target: str | None = None  # the label column of the training data
    monitor: Mapping[str, Any] = field(default_factory=dict)  # checked by the monitor layer
    retrain: RetrainSpec | None = None


@dataclass(frozen=True)
class RetrainSpec:
    """``models.NAME.retrain``: how ``monitor retrain`` makes a new version."""

    command: str | None = None  # brings fresh data in, before the pipeline runs
    stages: tuple[str, ...] = ()  # what to run (default: the whole pipeline)
    env: str = "staging"  # where the new version is promoted when its gates pass


@dataclass(frozen=True)
class GateSpec:
    name: str
    options: Mapping[str, Any] = field(default_factory=dict)
    where: str = ""  # environments.ENV.gates[i], for messages


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    gates: tuple[GateSpec, ...] = ()
    reevaluate: str | None = None
    target: str = "local"
    port: int | None = None  # local: the port the deployment answers on
    smoke: SmokeSpec = field(default_factory=SmokeSpec)
    kubernetes: Mapping[str, Any] | None = None  # checked by the deploy layer
    container: Mapping[str, Any] | None = None


# Each gate's options: name -> (check, default); a gate listed here is known.
GateOptions = Mapping[str, tuple[Any, Any]]
_REQUIRED = object()


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


GATES: dict[str, GateOptions] = {
    "data": {},
    "champion": {
        "metric": (lambda v: isinstance(v, str) and bool(v), _REQUIRED),
        "min_delta": (lambda v: _number(v) and 0 <= v < float("inf"), 0.0),
        "direction": (lambda v: v in ("max", "min"), "max"),
    },
    "approval": {"count": (_count, 1)},
    "scan": {},  # evaluated by the supply-chain layer (see project/gates.py)
    "signature": {},
}


def parse_models(section: Mapping[str, Any]) -> dict[str, ModelSpec]:
    models = {}
    for name, body in section.items():
        where = f"models.{name}"
        if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
            raise ConfigError(
                FILE, where, "a model name uses letters, digits, '-', '_' and '/' (as GTO)"
            )
        if not isinstance(body, dict):
            raise ConfigError(FILE, where, "must be a mapping with at least 'path'")
        known(body, MODEL_FIELDS, where)
        models[name] = ModelSpec(
            name=name,
            path=_path(body.get("path"), f"{where}.path", required=True) or "",
            schema=_path(body.get("schema"), f"{where}.schema"),
            data=_paths(body.get("data"), f"{where}.data"),
            inputs=_inputs(body.get("inputs"), f"{where}.inputs"),
            target=_name(body.get("target"), f"{where}.target"),
            monitor=_monitor(body.get("monitor"), f"{where}.monitor"),
            retrain=_retrain(body.get("retrain"), f"{where}.retrain"),
        )
    return models


MODEL_FIELDS = (
    "path",
    "schema",
    "data",
    "description",
    "intended_use",
    "inputs",
    "target",
    "monitor",
    "retrain",
)


def _mapping(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(FILE, where, "must be a mapping")
    return value


DURATION = re.compile(r"\s*(\d+\s*[smhdw]\s*)+")


def _monitor(value: object, where: str) -> dict[str, Any]:
    """``window`` and ``reference`` are checked here; the thresholds by the monitor layer."""
    body = _mapping(value, where)
    window = body.get("window")
    if window is not None and not (isinstance(window, str) and DURATION.fullmatch(window)):
        raise ConfigError(FILE, f"{where}.window", "must be a duration such as 24h, 7d or 2w")
    reference = body.get("reference")
    if reference is not None and (not isinstance(reference, str) or not reference):
        raise ConfigError(FILE, f"{where}.reference", "must be a path or URL (a string)")
    return body


def _retrain(value: object, where: str) -> RetrainSpec | None:
    if value is None:
        return None
    body = _mapping(value, where)
    known(body, ("command", "stages", "env"), where)
    command = body.get("command")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise ConfigError(FILE, f"{where}.command", "must be a command (a string)")
    stages = body.get("stages", [])
    stages = [stages] if isinstance(stages, str) else stages
    if not isinstance(stages, list) or not all(isinstance(s, str) and s for s in stages):
        raise ConfigError(FILE, f"{where}.stages", "must be a list of stage names")
    env = body.get("env", "staging")
    if not isinstance(env, str) or not ENV_NAME.fullmatch(env):
        raise ConfigError(FILE, f"{where}.env", "must be an environment name")
    return RetrainSpec(command, tuple(stages), env)


def parse_environments(section: Mapping[str, Any]) -> dict[str, EnvironmentSpec]:
    envs = {}
    for name, given in section.items():
        where = f"environments.{name}"
        if not isinstance(name, str) or not ENV_NAME.fullmatch(name):
            raise ConfigError(
                FILE, where, "an environment name uses letters, digits, '-' and '_' (as GTO)"
            )
        body = {} if given is None else given
        if not isinstance(body, dict):
            raise ConfigError(FILE, where, "must be a mapping (gates, reevaluate, target)")
        envs[name] = _environment(name, body, where)
    return envs


ENV_FIELDS = (
    "gates",
    "reevaluate",
    "target",
    "description",
    "port",
    "smoke",
    "kubernetes",
    "container",
)


def _environment(name: str, body: Mapping[str, Any], where: str) -> EnvironmentSpec:
    known(body, ENV_FIELDS, where)
    target = body.get("target", "local")
    if target not in TARGETS:
        raise ConfigError(FILE, f"{where}.target", f"must be one of {', '.join(TARGETS)}")
    reevaluate = body.get("reevaluate")
    if reevaluate is not None and (not isinstance(reevaluate, str) or not reevaluate):
        raise ConfigError(FILE, f"{where}.reevaluate", "must be a command (a string)")
    port = body.get("port")
    if port is not None and (
        not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535
    ):
        raise ConfigError(FILE, f"{where}.port", "must be a port number from 1 to 65535")
    for section in ("kubernetes", "container"):
        if body.get(section) is not None and not isinstance(body[section], dict):
            raise ConfigError(FILE, f"{where}.{section}", "must be a mapping")
    return EnvironmentSpec(
        name,
        _gates(body.get("gates"), where),
        reevaluate,
        target,
        port,
        parse_smoke(body.get("smoke"), f"{where}.smoke"),
        body.get("kubernetes"),
        body.get("container"),
    )


INPUT_TYPES = ("double", "float", "long", "integer", "boolean", "string")


def _inputs(value: object, where: str) -> tuple[Mapping[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not value:
        raise ConfigError(FILE, where, "must be a list of columns, each {name: ..., type: ...}")
    found: list[Mapping[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"name", "type"}:
            raise ConfigError(FILE, f"{where}[{i}]", "a column is {name: ..., type: ...}")
        _name(item["name"], f"{where}[{i}].name")
        if item["type"] not in INPUT_TYPES:
            raise ConfigError(
                FILE, f"{where}[{i}].type", f"must be one of {', '.join(INPUT_TYPES)}"
            )
        found.append({"name": item["name"], "type": item["type"]})
    names = [c["name"] for c in found]
    if len(set(names)) != len(names):
        raise ConfigError(FILE, where, "column names must be unique")
    return tuple(found)


def _name(value: object, where: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(FILE, where, "must be a column name (a string)")
    return value


def _gates(value: object, where: str) -> tuple[GateSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ConfigError(FILE, f"{where}.gates", "must be a list of gates")
    return tuple(_gate(item, f"{where}.gates[{i}]") for i, item in enumerate(value))


def _gate(item: object, where: str) -> GateSpec:
    options: object
    if isinstance(item, str):
        name, options = item, {}
    elif isinstance(item, dict) and len(item) == 1:
        name, options = next(iter(item.items()))
        options = {} if options is None else options
    else:
        raise ConfigError(FILE, where, "a gate is a name, or {name: {options}}")
    if name not in GATES:
        known = ", ".join(GATES)
        raise ConfigError(FILE, where, f"unknown gate {name!r} (known: {known})")
    if not isinstance(options, dict):
        raise ConfigError(FILE, f"{where}.{name}", "options must be a mapping")
    return GateSpec(name, _options(name, options, f"{where}.{name}"), where)


def _options(gate: str, given: Mapping[str, Any], where: str) -> dict[str, Any]:
    spec = GATES[gate]
    for key in given:
        if key not in spec:
            known = ", ".join(spec) or "none"
            raise ConfigError(FILE, f"{where}.{key}", f"unknown option (known: {known})")
    options: dict[str, Any] = {}
    for key, (check, default) in spec.items():
        if key not in given:
            if default is _REQUIRED:
                raise ConfigError(FILE, f"{where}.{key}", "is required")
            options[key] = default
        elif not check(given[key]):
            raise ConfigError(FILE, f"{where}.{key}", f"{given[key]!r} is not valid")
        else:
            options[key] = given[key]
    return options


def _path(value: object, where: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    return relative_path(value, where)


def _paths(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    return tuple(_path(v, f"{where}[{i}]", required=True) or "" for i, v in enumerate(items))
