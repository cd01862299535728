"""Short file locks: one per stage while it runs, one for shared files.

There is no repository-wide lock: two ``lockstep run`` processes run different
stages side by side. A stage being run by one process is refused by another
(running it twice at once would clear each other's outputs), and the shared
files (``lockstep.lock``, ``.gitignore``) are rewritten under a lock held only
for that read-modify-write.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from lockstep.errors import OperationError

_FOLDER = ".lockstep/locks"


@contextlib.contextmanager
def exclusive(root: Path, name: str = "files") -> Iterator[None]:
    """Hold the lock ``name`` of the workspace at ``root``, waiting for it."""
    fd = _open(root, name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class StageLock:
    """Claims a stage for this process; refused when another process runs it."""

    def __init__(self, root: Path, stage: str) -> None:
        self._fd = _open(root, f"stage-{stage}")
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise OperationError(
                f"stage {stage} is being run by another lockstep process; "
                "wait for it, or run other stages"
            ) from None

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _open(root: Path, name: str) -> int:
    folder = root / _FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    return os.open(folder / f"{name}.flock", os.O_RDWR | os.O_CREAT, 0o644)
