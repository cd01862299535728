"""An environment's ``smoke`` checks: what a new deployment must answer before it
takes traffic::

    environments:
      staging:
        target: local
        port: 8081
        smoke:
          requests:
            - body: {dataframe_records: [{x0: 0.1, x1: 2.0}]}   # or body_file: smoke.json
              path: /invocations            # the default
              status: 200                   # the default
              shape: [1]                    # the predictions' shape (optional)
          command: python tests/integration.py   # run with LOCKSTEP_ENDPOINT set
          timeout: 60                       # seconds for the command (default 120)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lockstep.errors import ConfigError
from lockstep.registry.fields import FILE, known, relative_path


@dataclass(frozen=True)
class SmokeRequest:
    path: str = "/invocations"
    body: Any = None  # sent as JSON
    body_file: str | None = None  # a JSON file in the workspace, instead of body
    status: int = 200
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class SmokeSpec:
    requests: tuple[SmokeRequest, ...] = ()
    command: str | None = None
    timeout: float = 120.0


def parse_smoke(value: object, where: str) -> SmokeSpec:
    if value is None:
        return SmokeSpec()
    if not isinstance(value, Mapping):
        raise ConfigError(FILE, where, "must be a mapping (requests, command, timeout)")
    known(value, ("requests", "command", "timeout"), where)
    requests = value.get("requests", [])
    if not isinstance(requests, list):
        raise ConfigError(FILE, f"{where}.requests", "must be a list of requests")
    command = value.get("command")
    if command is not None and (not isinstance(command, str) or not command.strip()):
        raise ConfigError(FILE, f"{where}.command", "must be a command (a string)")
    timeout = value.get("timeout", 120.0)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ConfigError(FILE, f"{where}.timeout", "must be a number of seconds above 0")
    found = tuple(_request(item, f"{where}.requests[{i}]") for i, item in enumerate(requests))
    return SmokeSpec(found, command, float(timeout))


def _request(item: object, where: str) -> SmokeRequest:
    if not isinstance(item, Mapping):
        raise ConfigError(FILE, where, "must be a mapping (body or body_file, path, status, shape)")
    known(item, ("path", "body", "body_file", "status", "shape"), where)
    if ("body" in item) == ("body_file" in item):
        raise ConfigError(FILE, where, "give exactly one of body and body_file")
    path = item.get("path", "/invocations")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigError(FILE, f"{where}.path", "must be a URL path starting with '/'")
    body_file = item.get("body_file")
    if body_file is not None:
        problem = "must be a relative path to a JSON file in the workspace"
        body_file = relative_path(body_file, f"{where}.body_file", problem)
    status = item.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ConfigError(FILE, f"{where}.status", "must be an HTTP status code")
    return SmokeRequest(path, item.get("body"), body_file, status, _shape(item, where))


def _shape(item: Mapping[str, Any], where: str) -> tuple[int, ...] | None:
    shape = item.get("shape")
    if shape is None:
        return None
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ConfigError(FILE, f"{where}.shape", "must be a list of sizes, such as [2] or [2, 3]")
    return tuple(shape)
