"""Docs that cannot drift: the CLI reference is generated from --help."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(
        "gen_cli_docs", ROOT / "scripts" / "gen_cli_docs.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_current() -> None:
    gen = load_generator()
    assert (ROOT / "docs" / "cli.md").read_text() == gen.render(), "run 'make docs'"


def test_every_command_is_documented() -> None:
    gen = load_generator()
    text = (ROOT / "docs" / "cli.md").read_text()
    for path in gen.command_paths():
        assert f"## `{' '.join(['lockstep', *path])}`" in text


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    head = readme[: readme.index("## ")] if "## " in readme else readme
    assert "make demo" in head and "make test" in head


def test_changelog_has_unreleased_section() -> None:
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def test_ci_runs_make_test_with_services_required() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert "make test" in script and "LOCKSTEP_REQUIRE_SERVICES=1" in script
