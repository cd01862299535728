"""What every remote provides. Objects keep the cache's names on every remote."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lockstep.errors import LockstepError

if TYPE_CHECKING:
    from lockstep.config import RemoteConfig

CHUNK = 1 << 20


class Remote(ABC):
    """A place that holds objects by digest.

    Implementations must make each object appear whole or not at all (an
    interrupted upload never leaves a readable partial object) and raise
    :class:`lockstep.errors.RemoteError` for anything that goes wrong, chained
    to the library's own exception. They are called from several threads.
    """

    #: parallel transfers when neither --jobs nor the remote's config says;
    #: None: the cache's ``jobs`` setting (suits network remotes)
    default_jobs: int | None = None

    #: the settings it was opened with (set by ``open_remote``), so that another
    #: process, such as a Dask worker, can open the same remote
    config: RemoteConfig | None = None

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    @abstractmethod
    def present(self, digests: set[str]) -> set[str]:
        """Which of ``digests`` the remote already holds."""

    @abstractmethod
    def upload(self, digest: str, src: Path, size: int) -> None:
        """Store the bytes of ``src`` (already verified to hash to ``digest``)."""

    def upload_many(self, items: list[tuple[str, Path, int]]) -> dict[str, LockstepError]:
        """Upload a batch of ``(digest, path, size)``; return the failures by digest.

        A backend may only stage the objects here and make them visible in
        :meth:`publish` (a local folder: one file-system sync for many files).
        """
        failed: dict[str, LockstepError] = {}
        for digest, src, size in items:
            try:
                self.upload(digest, src, size)
            except LockstepError as exc:
                failed[digest] = exc
        return failed

    @abstractmethod
    def download(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        """The object's bytes from ``offset`` on, in chunks.

        Raises :class:`lockstep.errors.MissingObjectsError` when absent.
        """

    def publish(self) -> None:  # noqa: B027 - optional hook
        """Make every staged upload durable and visible (called after each round)."""

    def commit(self, digests: set[str]) -> None:  # noqa: B027 - optional hook
        """Called after a push with every digest it covered (OCI keeps them reachable)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
