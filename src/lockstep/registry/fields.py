"""Checks shared by the sections of ``lockstep.yaml`` the registry reads (models,
environments, smoke checks): each error names the file and the field."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from lockstep.errors import ConfigError

FILE = "lockstep.yaml"
INSIDE = "must be a relative path inside the workspace"


def known(body: Mapping[str, Any], fields: tuple[str, ...], where: str) -> None:
    """Refuse a key that is not one of ``fields``."""
    for key in body:
        if key not in fields:
            raise ConfigError(FILE, f"{where}.{key}", f"unknown field (known: {', '.join(fields)})")


def relative_path(value: object, where: str, problem: str = INSIDE) -> str:
    """``value`` normalised, when it is a relative path that stays in the workspace."""
    if not isinstance(value, str) or not value or value.startswith("/"):
        raise ConfigError(FILE, where, problem)
    normal = posixpath.normpath(value)
    if normal in (".", "") or normal.split("/")[0] == "..":
        raise ConfigError(FILE, where, problem)
    return normal
