"""Progress bars: drawn on a terminal, silent in CI, pipes and --json."""

from __future__ import annotations

import pytest

from lockstep.cli import progress


def test_bars_render_core_reports(capsys: pytest.CaptureFixture[str]) -> None:
    with progress.Bars() as bars:
        bars.start("Hashing data", 3)
        bars.advance()
        bars.advance(2)
        bars.start("Pushing", None, unit="objects")  # a new phase replaces the bar
        bars.finish()
        bars.finish()  # finishing twice is harmless


def test_bars_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCKSTEP_NO_PROGRESS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert progress.wanted() is True
    assert progress.wanted(json_output=True) is False
    monkeypatch.setenv("CI", "true")
    assert progress.wanted() is False
    assert isinstance(progress.bars(), progress.NullProgress)
