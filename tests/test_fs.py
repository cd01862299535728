"""Crash-safe file primitives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lockstep import fs


@pytest.mark.parametrize("size", [0, 1, 4096, (1 << 20) + 7])
def test_copy_file_copies_every_byte(tmp_path: Path, size: int) -> None:
    src = tmp_path / "src"
    src.write_bytes(os.urandom(size))
    for hint in {None, size, max(0, size - 1)}:  # a wrong hint never truncates
        dst = tmp_path / f"dst-{hint}"
        fs.copy_file(src, dst, size=hint, sync=False, mode=0o444)
        assert dst.read_bytes() == src.read_bytes()
        assert dst.stat().st_mode & 0o777 == 0o444


def test_copy_file_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    with pytest.raises(FileExistsError):
        fs.copy_file(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == b"b"


def test_staged_files_appear_only_when_published(tmp_path: Path) -> None:
    staged = fs.Staged(tmp_path)
    for name in ("x", "y"):
        tmp = tmp_path / f".{name}.tmp"
        tmp.write_bytes(name.encode())
        staged.add(str(tmp), str(tmp_path / name))
    assert not (tmp_path / "x").exists()
    assert sorted(staged.publish()) == [str(tmp_path / "x"), str(tmp_path / "y")]
    assert (tmp_path / "y").read_bytes() == b"y"
    tmp = tmp_path / ".z.tmp"
    tmp.write_bytes(b"z")
    staged.add(str(tmp), str(tmp_path / "z"))
    staged.discard()
    assert not tmp.exists() and not (tmp_path / "z").exists()


def test_atomic_write_leaves_old_content_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "f"
    fs.atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError), fs.atomic_writer(target) as handle:
        handle.write(b"new")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]
