"""Crash-safe file-system primitives: temp file, fsync, rename.

A reader never sees a half-written file: bytes go to a temp file beside the
target (same directory, so the rename cannot cross a file system), are flushed
to disk, and the temp file is renamed over the target in one step. A process
killed at any moment leaves either the old file or the new one, plus at worst a
stray ``.<name>.<random>.lockstep-tmp``, which no command counts as data and
``lockstep gc`` removes from the cache.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".lockstep-tmp"
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def is_temp_name(name: str) -> bool:
    """A temp file of lockstep's own (left behind by a killed command, or in use)."""
    return name.startswith(".") and name.endswith(TMP_SUFFIX)


def temp_path_for(target: Path) -> Path:
    """A unique temp name in ``target``'s directory."""
    return target.with_name(f".{target.name}.{os.urandom(6).hex()}{TMP_SUFFIX}")


@contextlib.contextmanager
def atomic_writer(target: Path, mode: int = 0o644) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``target`` only on success."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_for(target)
    try:
        with open(tmp, "xb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_bytes(target: Path, data: bytes, mode: int = 0o644) -> None:
    with atomic_writer(target, mode) as handle:
        handle.write(data)


def atomic_write_text(target: Path, text: str, mode: int = 0o644) -> None:
    atomic_write_bytes(target, text.encode("utf-8"), mode)


def reflink(src: Path, dst: Path) -> None:
    """Copy-on-write clone of ``src`` at ``dst`` (btrfs, XFS, ...); OSError where unsupported."""
    with open(src, "rb") as s, open(dst, "xb") as d:
        try:
            fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
        except OSError:
            d.close()
            os.unlink(dst)
            raise


SMALL_COPY = 1 << 20


def copy_file(
    src: Path | str,
    dst: Path | str,
    *,
    sync: bool = True,
    mode: int = 0o644,
    size: int | None = None,
) -> None:
    """Copy bytes into a new file ``dst`` (in the kernel for big files); flush it
    unless ``sync`` is False. ``size``, when known, saves a stat for small files."""
    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            data = os.read(fd_in, size + 1) if size is not None and size < SMALL_COPY else b""
            if data and len(data) <= (size or 0):
                _write_all(fd_out, data)
            else:  # big, empty, or not the size we were told: copy what is there
                _copy_fds(fd_in, fd_out, os.fstat(fd_in).st_size)
            if sync:
                os.fsync(fd_out)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _copy_fds(fd_in: int, fd_out: int, size: int) -> None:
    copied = 0
    try:
        while copied < size:
            sent = os.sendfile(fd_out, fd_in, copied, min(size - copied, 1 << 30))
            if sent == 0:
                break
            copied += sent
    except OSError:
        if copied:
            raise
        os.lseek(fd_in, 0, os.SEEK_SET)
        with os.fdopen(os.dup(fd_in), "rb") as s, os.fdopen(os.dup(fd_out), "wb") as d:
            shutil.copyfileobj(s, d, 1 << 20)


def sync_filesystem(path: Path | str) -> None:
    """Flush every written byte of the file system holding ``path`` (one call for many files)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        syncfs = getattr(_libc(), "syncfs", None)
        if syncfs is None or syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


@functools.cache
def _libc() -> object:
    """The C library of this process (no ``ldconfig`` lookup, loaded once)."""
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def is_cross_device(exc: OSError) -> bool:
    return exc.errno in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK)


def make_readonly(path: Path) -> None:
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, mode & ~0o222)


class Staged:
    """Files written under temp names, published together: one file-system sync,
    then one rename each. Nothing is visible under its real name before its bytes
    are on disk, and a batch costs one sync instead of one fsync per file.
    Safe to fill from several threads.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = root
        self._items: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, tmp: str, target: str) -> None:
        with self._lock:
            self._items.append((tmp, target))

    def __len__(self) -> int:
        return len(self._items)

    def publish(self) -> list[str]:
        """Sync, rename every staged file to its target; return the targets."""
        with self._lock:
            items, self._items = self._items, []
        if items:
            sync_filesystem(self.root)
        for tmp, target in items:
            os.replace(tmp, target)
        return [target for _, target in items]

    def discard(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for tmp, _ in items:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
