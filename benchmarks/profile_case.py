"""Profile one lockstep benchmark case with cProfile (main thread only).

Usage: .venv/bin/python benchmarks/profile_case.py {add-small,status,push,add-large}
           [--count N] [--out FILE] [--top N] [--py-spy PATH]

Builds the same data as ``run.py`` in a fresh repository under benchmarks/.tmp,
runs the untimed steps before the case, then the case itself under cProfile, and
prints the functions with the most cumulative and own time. cProfile sees only
the main thread and inflates call-heavy code; with ``--py-spy PATH`` (a py-spy
binary, installed anywhere but the project venv) the case is sampled instead,
every thread, idle time included, and the lines holding most samples are listed.
"""

from __future__ import annotations

import argparse
import os
import pstats
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import datagen
from cases import LARGE, PUSH, SMALL, STATUS
from tools import (
    HERE,
    LOCKSTEP,
    PROJECT,
    Lockstep,
    git_commit,
    git_repo,
    rmtree,
    run,
    use_bytecode_cache,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("case", choices=(LARGE, SMALL, STATUS, PUSH))
    parser.add_argument("--count", type=int, default=20_000, help="small files (default 20,000)")
    parser.add_argument("--out", default=None, help="keep the profile in this file")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--py-spy", dest="py_spy", help="sample with this py-spy binary")
    args = parser.parse_args(argv)
    base = HERE / ".tmp"
    base.mkdir(exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="profile-", dir=base))
    use_bytecode_cache(tmp / "pycache")
    tool = Lockstep()
    out = Path(args.out).resolve() if args.out else tmp / "case.prof"
    try:
        repo = tmp / "repo"
        git_repo(repo)
        tool.init(repo)
        git_commit(repo, "init")
        cmd = _prepare(args, tool, repo, tmp)
        # compile bytecode first, so the profile shows no compiling
        run(tool.cmd("--version"), repo, tool.env)
        python = str(LOCKSTEP.parent / "python")
        run([python, "-m", "compileall", "-q", str(PROJECT / "src" / "lockstep")], repo, tool.env)
        os.sync()
        if args.py_spy:
            _sample(args.py_spy, cmd, repo, tool, out, args.top)
        else:
            _cprofile(cmd, repo, tool, out, args.top)
    finally:
        if args.out:
            print(f"profile kept in {out}")
        rmtree(tmp)
    return 0


def _cprofile(cmd: list[str], repo: Path, tool: Lockstep, out: Path, top: int) -> None:
    python = str(LOCKSTEP.parent / "python")
    profile = [python, "-m", "cProfile", "-o", str(out), "-m", "lockstep", *cmd]
    subprocess.run(profile, cwd=repo, env=tool.env, check=True)
    stats = pstats.Stats(str(out))
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _sample(py_spy: str, cmd: list[str], repo: Path, tool: Lockstep, out: Path, top: int) -> None:
    record = [py_spy, "record", "--idle", "-r", "250", "-f", "raw", "-o", str(out), "--"]
    subprocess.run([*record, str(LOCKSTEP), *cmd], cwd=repo, env=tool.env, check=True)
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            if "lockstep" in frame:
                inclusive[frame] += int(count)
    print(f"{total} samples over all threads")
    print("\nmost samples, own (leaf frame):")
    for frame, count in own.most_common(top):
        print(f"  {count / total:6.1%}  {frame}")
    print("\nmost samples, inclusive (lockstep frames):")
    for frame, count in inclusive.most_common(top):
        print(f"  {count / total:6.1%}  {frame}")


def _prepare(args: argparse.Namespace, tool: Lockstep, repo: Path, tmp: Path) -> list[str]:
    """Do the untimed steps before the case; return the lockstep arguments to profile."""
    if args.case == LARGE:
        datagen.make_large_file(str(repo / "large.bin"), 1 << 30)
        os.sync()
        return ["add", "large.bin"]
    datagen.make_small_tree(str(repo / "data"), args.count)
    os.sync()
    if args.case == SMALL:
        return ["add", "data"]
    run(tool.add("data"), repo, tool.env)
    git_commit(repo, "track data")
    if args.case == STATUS:
        return ["status"]
    remote = tmp / "remote"
    remote.mkdir()
    tool.remote_add(repo, remote)
    return ["push"]


if __name__ == "__main__":
    sys.exit(main())
