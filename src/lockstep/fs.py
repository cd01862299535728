"""Crash-safe file-system primitives: temp file, fsync, rename.

A reader never sees a half-written file: bytes go to a temp file beside the
target (same directory, so the rename cannot cross a file system), are flushed
to disk, and the temp file is renamed over the target in one step. A process
killed at any moment leaves either the old file or the new one, plus at worst a
stray ``.<name>.<random>.tmp`` that ``lockstep gc`` removes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def temp_path_for(target: Path) -> Path:
    """A unique temp name in ``target``'s directory."""
    return target.with_name(f".{target.name}.{secrets.token_hex(6)}{TMP_SUFFIX}")


def fsync_dir(directory: Path) -> None:
    """Persist a rename or a new entry in ``directory``."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


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


def copy_file(src: Path, dst: Path, *, sync: bool = True) -> None:
    """Copy bytes (kernel fast path) into a new file ``dst`` and flush it."""
    with open(src, "rb") as s, open(dst, "xb") as d:
        shutil.copyfileobj(s, d, 1 << 20)
        if sync:
            d.flush()
            os.fsync(d.fileno())


def is_cross_device(exc: OSError) -> bool:
    return exc.errno in (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK)


def make_readonly(path: Path) -> None:
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, mode & ~0o222)


def make_writable(path: Path) -> None:
    mode = os.stat(path).st_mode & 0o777
    os.chmod(path, mode | 0o200)
