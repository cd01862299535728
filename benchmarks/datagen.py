"""Deterministic benchmark data: one large file and a tree of many small files.

Both come from a seeded RNG, so every run (and every tool within a run) sees the
same bytes. The data is generated once per run into a pristine folder and copied
into each fresh repository before the timed command.
"""

from __future__ import annotations

import os
import random
import subprocess
import time

CHUNK = 16 << 20


def make_large_file(path: str, size: int, seed: int = 1) -> None:
    """``size`` pseudo-random bytes at ``path`` (incompressible, so no tool gets lucky)."""
    rng = random.Random(seed)
    left = size
    with open(path, "wb") as out:
        while left:
            block = min(CHUNK, left)
            out.write(rng.randbytes(block))
            left -= block


def make_small_tree(
    root: str,
    count: int,
    *,
    folders: int = 100,
    min_size: int = 100,
    max_size: int = 4096,
    seed: int = 2,
) -> int:
    """``count`` files of ``min_size``..``max_size`` bytes in ``folders`` subfolders.

    Returns the total size in bytes. Every file's content is distinct.
    """
    rng = random.Random(seed)
    total = 0
    for folder in range(folders):
        os.makedirs(os.path.join(root, f"part-{folder:03d}"), exist_ok=True)
    for index in range(count):
        size = rng.randint(min_size, max_size)
        name = os.path.join(root, f"part-{index % folders:03d}", f"sample-{index:05d}.bin")
        with open(name, "wb") as out:
            out.write(rng.randbytes(size))
        total += size
    return total


def copy_into(src: str, dst: str) -> float:
    """Copy a file or folder with ``cp -R``, then sync; return the seconds ``cp`` took.

    Syncing leaves the copy clean in the page cache: warm for every tool alike,
    with no write-back of the copy competing with the timed command that follows.
    """
    os.sync()
    start = time.perf_counter()
    subprocess.run(["cp", "-R", src, dst], check=True)
    elapsed = time.perf_counter() - start
    os.sync()
    return elapsed


def count_files(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(root))
