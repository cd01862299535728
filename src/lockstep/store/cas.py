"""The content-addressed object store.

Layout (version 1; pinned by ``tests/store/test_layout.py``)::

    <root>/blobs/sha256/<first 2 hex>/<64 hex>     an object: exactly the bytes
                                                   whose sha256 is its name
    <root>/blobs/sha256/<2 hex>/.<64 hex>.<rand>.lockstep-tmp   a write in progress
    <root>/blobs/sha256/<2 hex>/<64 hex>.incomplete    a download that resumes

Objects are written under a temp name and renamed, never overwritten, and made
read-only. Reads that matter (checkout, push) verify the bytes first; a
verification is remembered in the state database against the object's
(inode, mtime, size), so an object edited in place through a link is caught.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lockstep import fs
from lockstep.errors import ChangedWhileReadingError, CorruptObjectError
from lockstep.store.hashing import hash_bytes, hash_file
from lockstep.store.state import Stat, StateDB, stat_key
from lockstep.types import NullProgress, Progress, is_hex_digest

INCOMPLETE = ".incomplete"


@dataclass
class Verification:
    """Outcome of verifying a set of objects."""

    ok: set[str] = field(default_factory=set)
    sizes: dict[str, int] = field(default_factory=dict)  # of the objects that are ok
    missing: set[str] = field(default_factory=set)
    corrupt: dict[str, str] = field(default_factory=dict)  # digest -> actual digest


class ObjectStore:
    """Objects named by their sha256 under ``root``."""

    def __init__(self, root: Path, state: StateDB | None = None) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self._prefix = f"{self.blobs}/"
        self.state = state
        self._reflink_works: bool | None = None
        self._fans: set[str] = set()

    def path(self, digest: str) -> Path:
        return self.blobs / digest[:2] / digest

    def file(self, digest: str) -> str:
        """The object's path as a string (cheaper than :meth:`path` in hot loops)."""
        return f"{self._prefix}{digest[:2]}/{digest}"

    def exists(self, digest: str) -> bool:
        return os.path.exists(self.file(digest))

    def missing(self, digests: Iterable[str]) -> set[str]:
        return {d for d in digests if not os.path.exists(self.file(d))}

    def all_digests(self) -> Iterator[str]:
        if not self.blobs.is_dir():
            return
        for fan in os.scandir(self.blobs):
            if not fan.is_dir() or len(fan.name) != 2:
                continue
            for entry in os.scandir(fan.path):
                if is_hex_digest(entry.name) and entry.name.startswith(fan.name):
                    yield entry.name

    # --- writing -------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        """Store ``data``; return its digest."""
        digest = hash_bytes(data)
        target = self.path(digest)
        if not target.exists():
            fs.atomic_write_bytes(target, data, mode=0o444)
            if self.state is not None:
                self.state.mark_verified({digest: stat_key(os.stat(target))})
        return digest

    def adopt(
        self, items: Iterable[tuple[str, str, Stat]], link: str, progress: Progress | None = None
    ) -> dict[str, str]:
        """Make each already-hashed ``(src, digest, stat when hashed)`` the object ``digest``.

        ``link`` is one of auto, reflink, hardlink, copy. With a hard link the
        object and ``src`` share one read-only inode (no bytes are copied);
        reflink and copy leave ``src`` as it was. A file that changed since it
        was hashed is not stored (ChangedWhileReadingError). Returns how each
        new object was placed; objects already present are left alone. Safe to
        call from several threads.
        """
        placed: dict[str, str] = {}
        fresh: dict[str, Stat] = {}
        progress = progress or NullProgress()
        for src, digest, hashed in items:
            if digest not in placed:
                used, st = self._adopt_one(src, digest, hashed, link)
                if st is not None:
                    placed[digest] = used
                    fresh[digest] = st
            progress.advance()
        if self.state is not None:
            self.state.mark_verified(fresh)
        return placed

    def _adopt_one(self, src: str, digest: str, hashed: Stat, link: str) -> tuple[str, Stat | None]:
        target = self.file(digest)
        if digest[:2] not in self._fans:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self._fans.add(digest[:2])
        if link == "auto" and self._reflink_works is False:
            link = "hardlink"
        if link == "hardlink":
            linked = _hardlink(src, target, hashed)
            if linked is not None:
                return linked
            link = "copy"  # another file system
        if os.path.exists(target):
            return "exists", None
        used = self._place_copy(Path(src), Path(target), link)
        if stat_key(os.stat(src)) != hashed:
            self.remove(digest)
            raise ChangedWhileReadingError(src)
        if link == "auto":
            self._reflink_works = used == "reflink"
        return used, stat_key(os.stat(target))

    def _place_copy(self, src: Path, target: Path, link: str) -> str:
        tmp = fs.temp_path_for(target)
        try:
            used = place(src, tmp, link)
            fs.make_readonly(tmp)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        return used

    def remove(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()
        if self.state is not None:
            self.state.forget_objects([digest])

    # --- reading -------------------------------------------------------------------

    def read_bytes(self, digest: str) -> bytes:
        """The object's bytes, verified; CorruptObjectError if they do not match."""
        data = self.path(digest).read_bytes()
        actual = hash_bytes(data)
        if actual != digest:
            raise CorruptObjectError(digest, str(self.path(digest)), actual)
        return data

    def verify(self, digests: Iterable[str]) -> Verification:
        """Check objects hash to their names, re-hashing only what changed since last time.

        Corrupt objects are reported and removed from the cache, so that a later
        fetch can put the right bytes back under their name.
        """
        wanted = set(digests)
        known = self.state.verified_objects(wanted) if self.state is not None else {}
        result = Verification()
        fresh: dict[str, tuple[int, int, int]] = {}
        for digest in wanted:
            path = self.file(digest)
            try:
                st = stat_key(os.stat(path))
            except FileNotFoundError:
                result.missing.add(digest)
                continue
            if known.get(digest) == st:
                result.ok.add(digest)
                result.sizes[digest] = st[2]
                continue
            actual = hash_file(path)
            if actual == digest:
                result.ok.add(digest)
                result.sizes[digest] = st[2]
                fresh[digest] = st
            else:
                result.corrupt[digest] = actual
        if self.state is not None:
            self.state.mark_verified(fresh)
        for digest in result.corrupt:
            self.remove(digest)  # a wrong object helps nobody; a pull can restore the right one
        return result


def _hardlink(src: str, target: str, hashed: Stat) -> tuple[str, Stat | None] | None:
    """Link ``src`` as the object ``target`` (atomic: whole or not at all).

    Returns None when the two are on different file systems. The link shares
    ``src``'s inode, so one stat tells whether the file changed since hashing.
    """
    try:
        os.link(src, target)
    except FileExistsError:
        return "exists", None
    except OSError as exc:
        if fs.is_cross_device(exc):
            return None
        raise
    st = os.stat(target)
    if stat_key(st) != hashed:
        os.unlink(target)
        raise ChangedWhileReadingError(src)
    os.chmod(target, st.st_mode & 0o555)  # read-only; the mtime stays as hashed
    return "hardlink", stat_key(st)


def place(src: Path, dst: Path, link: str) -> str:
    """Put ``src``'s bytes at the new path ``dst`` by reflink, hard link or copy."""
    if link in ("auto", "reflink"):
        try:
            fs.reflink(src, dst)
            return "reflink"
        except OSError:
            if link == "reflink":
                raise
    if link in ("auto", "hardlink"):
        try:
            os.link(src, dst)
            return "hardlink"
        except OSError as exc:
            if not fs.is_cross_device(exc):
                raise
    fs.copy_file(src, dst)
    return "copy"
