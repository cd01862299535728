"""Generate docs/cli.md from the CLI's own --help (tests/test_docs.py checks it is current)."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path

from typer.main import get_command

from lockstep.cli.app import app, run

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "cli.md"
HEADER = """\
# CLI reference

Generated from `lockstep --help` by `scripts/gen_cli_docs.py` (run `make docs`);
`tests/test_docs.py` fails when this file and the CLI disagree.
"""


def command_paths(group: object = None, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command, in the order --help lists them."""
    group = group if group is not None else get_command(app)
    found = [prefix]
    if hasattr(group, "list_commands"):
        ctx = group.make_context("lockstep", [], resilient_parsing=True)  # type: ignore[attr-defined]
        for name in group.list_commands(ctx):  # type: ignore[attr-defined]
            sub = group.get_command(ctx, name)  # type: ignore[attr-defined]
            found += command_paths(sub, (*prefix, name))
    return found


def help_text(path: tuple[str, ...]) -> str:
    out = io.StringIO()
    os.environ["COLUMNS"] = "100"
    with contextlib.redirect_stdout(out):
        run([*path, "--help"])
    return out.getvalue().rstrip()


def render() -> str:
    parts = [HEADER]
    for path in command_paths():
        title = " ".join(["lockstep", *path])
        parts.append(f"\n## `{title}`\n\n```\n{help_text(path)}\n```\n")
    return "".join(parts)


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        return 0 if TARGET.exists() and TARGET.read_text() == text else 1
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
