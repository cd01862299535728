"""The shell: help, version, exit codes, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lockstep import __version__
from tests.conftest import cli


def test_version_and_help() -> None:
    assert cli("--version").out.strip() == f"lockstep {__version__}"
    result = cli("--help")
    assert result.code == 0 and "Exit codes" in result.out


@pytest.mark.parametrize(
    "command",
    [
        ["init"],
        ["add"],
        ["status"],
        ["checkout"],
        ["diff"],
        ["gc"],
        ["push"],
        ["pull"],
        ["fetch"],
        ["remote"],
        ["remote", "add"],
        ["remote", "list"],
        ["demo"],
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.code == 0
    assert "Usage: lockstep" in result.out


def test_usage_errors_exit_2(ws: Path) -> None:
    assert cli("add").code == 2
    assert cli("no-such-command").code == 2
    assert cli("diff", "a", "b", "c").code == 2


def test_debug_shows_traceback(repo: Path) -> None:
    env = {"LOCKSTEP_DEBUG": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "lockstep", "status"],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0 and "Traceback" in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "lockstep", "status"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")


def test_demo_runs_the_loop(tmp_path: Path) -> None:
    result = cli("demo", str(tmp_path / "demo"))
    assert result.code == 0, result.err
    assert result.out.count("  ok  ") == 37
    assert "v0.0.1 -> v0.0.2; switched in" in result.out
    assert "v0.0.2 -> v0.0.3; switched in" in result.out
    assert "v0.0.3 -> v0.0.2; switched in" in result.out
    assert "lockstep_requests_total of v0.0.2: 72 invocations, 72 v2/infer" in result.out
    assert "logged rows: no drift" in result.out
    assert "exit 1: drift in mean radius" in result.out
    assert "churn@v0.0.3 (f1" in result.out and "promoted to staging" in result.out
    assert (tmp_path / "demo" / "drift-report.html").exists()
    assert "status clean: True" in result.out
    assert "prepare up-to-date, train up-to-date, evaluate up-to-date" in result.out
    assert "train restored, evaluate restored" in result.out
    assert "7 stage runs (2 restored)" in result.out
    assert "exit 1: approval: 0 of 1 approval(s)" in result.out
    assert "churn#production#2: data pass, scan pass, signature pass, champion pass" in result.out
    assert "a tampered signature is refused" in result.out
    assert "verified from the registry" in result.out or "skipped: no docker-registry" in result.out
    assert "exit 1: champion: f1 0.961326 does not beat churn@v0.0.1's 0.967033" in result.out
    assert (tmp_path / "demo" / "project" / "data" / "raw.lockstep").exists()
    again = cli("demo", str(tmp_path / "demo"))
    assert again.code == 2


def test_json_output_is_strict_json(capsys: object) -> None:
    import json
    import math

    from lockstep.cli.app import emit_json

    emit_json({"a": [math.nan, math.inf, 1.5], "b": {"c": -math.inf}})
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert json.loads(out, parse_constant=lambda c: 1 / 0) == {
        "a": [None, None, 1.5],
        "b": {"c": None},
    }
