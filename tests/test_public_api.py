"""The public surface is small and deliberate."""

from __future__ import annotations

import subprocess
import sys

import lockstep


def test_exported_members() -> None:
    assert lockstep.__all__ == ["__version__"]


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, lockstep.cli.app; "
        "heavy = {'pandas', 'sklearn', 'scipy', 'fastapi', 's3fs', 'httpx', 'boto3'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
