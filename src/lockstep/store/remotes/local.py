"""``file://`` remotes: a folder laid out like the cache (``blobs/sha256/<2>/<64>``)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from lockstep import fs
from lockstep.config import RemoteConfig
from lockstep.errors import LockstepError, MissingObjectsError, RemoteError
from lockstep.store.remotes.base import CHUNK, Remote


class LocalRemote(Remote):
    def __init__(self, name: str, config: RemoteConfig) -> None:
        super().__init__(name, config.url)
        parsed = urlparse(config.url)
        if parsed.netloc not in ("", "localhost"):
            raise RemoteError(name, f"{config.url}: file:// remotes must be local paths")
        self.root = Path(unquote(parsed.path))
        self.blobs = self.root / "blobs" / "sha256"
        self._fans: set[str] = set()

    def path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def present(self, digests: set[str]) -> set[str]:
        return {d for d in digests if os.path.exists(self.path(d))}

    def upload(self, digest: str, src: Path, size: int) -> None:
        self.upload_many([(digest, src, size)])

    def upload_many(self, items: list[tuple[str, Path, int]]) -> dict[str, LockstepError]:
        """Copy the batch to temp names, sync the file system once, then rename each.

        One ``syncfs`` makes the whole batch durable before any object becomes
        visible under its name, instead of one ``fsync`` per object.
        """
        staged: list[tuple[Path, Path]] = []
        try:
            for digest, src, _ in items:
                target = self.path(digest)
                if target.parent.name not in self._fans:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    self._fans.add(target.parent.name)
                tmp = fs.temp_path_for(target)
                staged.append((tmp, target))
                fs.copy_file(src, tmp, sync=False, mode=0o444)
            fs.sync_filesystem(self.blobs)
            for tmp, target in staged:
                os.replace(tmp, target)
        except OSError as exc:
            for tmp, _ in staged:
                with contextlib.suppress(OSError):
                    tmp.unlink()
            where = exc.filename or self.root
            raise RemoteError(self.name, f"cannot write {where}: {exc.strerror}") from exc
        return {}

    def download(self, digest: str, offset: int = 0) -> Iterator[bytes]:
        try:
            handle = open(self.path(digest), "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise MissingObjectsError([digest], f"remote {self.name}") from None
        except OSError as exc:
            raise RemoteError(self.name, f"cannot read {self.path(digest)}: {exc}") from exc
        with handle:
            handle.seek(offset)
            while block := handle.read(CHUNK):
                yield block
