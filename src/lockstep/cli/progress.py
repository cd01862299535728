"""Progress bars on a terminal, silence elsewhere (CI, pipes, --json)."""

from __future__ import annotations

import os
import sys
from types import TracebackType
from typing import Any

from lockstep.types import NullProgress
from lockstep.types import Progress as ProgressProtocol


def wanted(json_output: bool = False) -> bool:
    if json_output or os.environ.get("CI") or os.environ.get("LOCKSTEP_NO_PROGRESS"):
        return False
    return sys.stderr.isatty()


class Bars:
    """Renders the core's progress reports as rich bars on stderr.

    rich is imported here, only when a terminal will show the bars.
    """

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: Any = None

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()

    def start(self, description: str, total: int | None, unit: str = "files") -> None:
        self.finish()
        self._task = self._progress.add_task(description, total=total, unit=unit)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, amount)

    def finish(self) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
            self._task = None


class _Quiet(NullProgress):
    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def bars(json_output: bool = False) -> Bars | _Quiet:
    return Bars() if wanted(json_output) else _Quiet()


__all__ = ["Bars", "ProgressProtocol", "bars", "wanted"]
