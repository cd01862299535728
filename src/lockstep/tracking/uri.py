"""Where the tracking database is: the environment, the config, or the workspace default.

``LOCKSTEP_TRACKING_URI`` wins over ``[tracking] uri`` in ``.lockstep/config.toml``
(or ``config.local.toml``), which wins over ``sqlite:///<root>/.lockstep/runs.db``.
A relative SQLite path in the config is relative to the workspace root.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from lockstep.errors import InputError, NotInitializedError

ENV_URI = "LOCKSTEP_TRACKING_URI"
ENV_RUN_ID = "LOCKSTEP_RUN_ID"
DEFAULT_FILE = "runs.db"
_SQLITE = "sqlite:///"
_PASSWORD = re.compile(r"(//[^:/@]*):[^@/]*@")


def resolve_uri(root: Path | None, configured: str | None) -> str:
    """The database URL: ``$LOCKSTEP_TRACKING_URI`` > ``configured`` > the workspace's file."""
    from_env = os.environ.get(ENV_URI)
    if from_env:
        return normalize(from_env)
    if configured:
        return normalize(_under_root(configured, root))
    if root is None:
        raise InputError(
            f"no tracking database: set {ENV_URI}, or work inside a lockstep workspace"
        )
    return f"{_SQLITE}{root / '.lockstep' / DEFAULT_FILE}"


def workspace_uri(start: Path) -> str:
    """The URI for code running in ``start``: the environment, else the workspace around it
    (looked up once per folder and process)."""
    from_env = os.environ.get(ENV_URI)
    if from_env:
        return normalize(from_env)
    return _workspace_uri(start.resolve())


@functools.cache
def _workspace_uri(start: Path) -> str:
    from lockstep.config import PROJECT_FILE, load_config
    from lockstep.git import find_root

    root = find_root(start)
    if not (root / PROJECT_FILE).exists():
        raise NotInitializedError(str(root))
    return resolve_uri(root, load_config(root).tracking.uri)


def normalize(uri: str) -> str:
    """``postgres://`` and ``postgresql://`` mean the psycopg 3 driver, the one installed."""
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg://" + uri[len(prefix) :]
    return uri


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***``, fit for messages and logs."""
    return _PASSWORD.sub(r"\1:***@", uri)


def sqlite_path(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI, or None for other databases and ``:memory:``."""
    if not uri.startswith(_SQLITE):
        return None
    rest = uri[len(_SQLITE) :].split("?", 1)[0]
    return None if rest in ("", ":memory:") else Path(rest)


def _under_root(uri: str, root: Path | None) -> str:
    if root is None or not uri.startswith(_SQLITE):
        return uri
    file, sep, query = uri[len(_SQLITE) :].partition("?")
    if file in ("", ":memory:") or Path(file).is_absolute():
        return uri
    return f"{_SQLITE}{root / file}{sep}{query}"
