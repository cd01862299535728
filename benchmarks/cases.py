"""The benchmark cases: each tool does the same work on the same bytes.

Repetitions alternate the order of the tools and start from a fresh Git
repository with a fresh copy of the data (and a fresh remote), so every
repetition measures the same work. Before each timed command the page cache is
settled (``sync``): the data is warm for every tool alike and no write-back from
set-up competes with it. The many-file repositories are deleted only with the
whole temp folder at the end (see ``_small_once``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datagen
from tools import CommandError, Tool, git_commit, git_repo, rmtree, run, timed

LARGE = "add-large"
SMALL = "add-small"
STATUS = "status"
PUSH = "push"
CASES = (LARGE, SMALL, STATUS, PUSH)
OPENSSL = "openssl dgst -sha256"
CP = "cp"
CP_TREE = "cp -R"


@dataclass
class Settings:
    large_size: int
    small_count: int
    reps_small: int
    reps_large: int
    only: frozenset[str]


@dataclass
class Samples:
    """Every timing taken, in seconds, by case and tool."""

    times: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def add(self, case: str, tool: str, seconds: float) -> None:
        self.times.setdefault(case, {}).setdefault(tool, []).append(seconds)
        print(f"  {case:<10} {tool:<22} {seconds:8.3f} s", flush=True)

    def best(self, case: str, tool: str) -> float | None:
        found = self.times.get(case, {}).get(tool)
        return min(found) if found else None


def _order(tools: Sequence[Tool], rep: int) -> Iterator[Tool]:
    return iter(tools if rep % 2 == 0 else list(reversed(tools)))


def _fresh_repo(tool: Tool, path: Path) -> Path:
    git_repo(path)
    tool.init(path)
    git_commit(path, f"{tool.name} init")
    return path


def _drop_repo(path: Path) -> None:
    rmtree(path)


def _pointer_digest(repo: Path, target: str) -> str | None:
    pointer = repo / f"{target}.lockstep"
    if not pointer.exists():
        return None
    match = re.search(r"sha256:([0-9a-f]{64})", pointer.read_text())
    return match.group(1) if match else None


def warm_up(tools: Sequence[Tool], tmp: Path) -> None:
    """Run every timed command once on tiny data, untimed: bytecode and OS caches
    are then as warm for the first repetition as for the next ones."""
    data = tmp / "warm-up-data"
    datagen.make_small_tree(str(data / "data"), 50, folders=5)
    (data / "one.bin").write_bytes(b"x" * 4096)
    for tool in tools:
        repo = _fresh_repo(tool, tmp / f"warm-up-{tool.name}")
        remote = tmp / f"warm-up-{tool.name}.remote"
        try:
            datagen.copy_into(str(data / "data"), str(repo / "data"))
            datagen.copy_into(str(data / "one.bin"), str(repo / "one.bin"))
            run(tool.add("data"), repo, tool.env)
            run(tool.add("one.bin"), repo, tool.env)
            git_commit(repo, "track data")
            tool.check_clean(run(tool.status(), repo, tool.env))
            remote.mkdir()
            tool.remote_add(repo, remote)
            run(tool.push(), repo, tool.env)
        finally:
            _drop_repo(repo)
            rmtree(remote)
    rmtree(data)


# --- add of one large file ---------------------------------------------------------


def bench_large(settings: Settings, tools: Sequence[Tool], tmp: Path, out: Samples) -> None:
    pristine = tmp / "pristine-large.bin"
    print(f"generating a {settings.large_size >> 20} MiB file ...", flush=True)
    datagen.make_large_file(str(pristine), settings.large_size)
    os.sync()
    try:
        for rep in range(settings.reps_large):
            expected = _references(pristine, tmp, out)
            for tool in _order(tools, rep):
                _large_once(tool, pristine, tmp / f"large-{tool.name}-{rep}", expected, out)
    finally:
        pristine.unlink(missing_ok=True)


def _references(pristine: Path, tmp: Path, out: Samples) -> str:
    """Time ``openssl dgst -sha256`` and ``cp`` on a warm copy; return the digest."""
    scratch = tmp / "reference"
    scratch.mkdir()
    try:
        copy = scratch / "large.bin"
        datagen.copy_into(str(pristine), str(copy))
        seconds, stdout = timed(["openssl", "dgst", "-sha256", str(copy)], scratch)
        out.add(LARGE, OPENSSL, seconds)
        os.sync()
        seconds, _ = timed(["cp", str(copy), str(scratch / "copied.bin")], scratch)
        out.add(LARGE, CP, seconds)
        os.sync()
        return stdout.strip().rsplit(" ", 1)[-1]
    finally:
        rmtree(scratch)


def _large_once(tool: Tool, pristine: Path, repo: Path, expected: str, out: Samples) -> None:
    _fresh_repo(tool, repo)
    try:
        datagen.copy_into(str(pristine), str(repo / "large.bin"))
        seconds, _ = timed(tool.add("large.bin"), repo, tool.env)
        out.add(LARGE, tool.name, seconds)
        digest = _pointer_digest(repo, "large.bin")
        if digest is not None and digest != expected:
            raise CommandError(f"{tool.name} recorded sha256 {digest}, openssl says {expected}")
    finally:
        _drop_repo(repo)


# --- many small files: add, no-op status, push -----------------------------------------


def bench_small(settings: Settings, tools: Sequence[Tool], tmp: Path, out: Samples) -> None:
    wanted = settings.only & {SMALL, STATUS, PUSH}
    pristine = tmp / "pristine-small"
    print(f"generating {settings.small_count} small files ...", flush=True)
    size = datagen.make_small_tree(str(pristine / "data"), settings.small_count)
    out.notes["small_bytes"] = str(size)
    # status alone needs one repository, timed several times; add and push need a
    # fresh repository (and remote) for each repetition
    reps = settings.reps_small if wanted & {SMALL, PUSH} else 1
    status_runs = 1 if reps > 1 else settings.reps_small
    for rep in range(reps):
        for tool in _order(tools, rep):
            repo = tmp / f"small-{tool.name}-{rep}"
            _small_once(tool, pristine, repo, wanted, status_runs, settings, out)


def _small_once(
    tool: Tool,
    pristine: Path,
    repo: Path,
    wanted: frozenset[str],
    status_runs: int,
    settings: Settings,
    out: Samples,
) -> None:
    # Repositories and remotes stay until the whole run is over: on ext4, creating
    # files soon after many were deleted is much slower (the inode allocator skips
    # recently deleted inodes), which would tax whichever tool runs next.
    _fresh_repo(tool, repo)
    # the set-up copy doubles as a reference: what creating these files costs here
    out.add(SMALL, CP_TREE, datagen.copy_into(str(pristine / "data"), str(repo / "data")))
    seconds, _ = timed(tool.add("data"), repo, tool.env)
    if SMALL in wanted:
        out.add(SMALL, tool.name, seconds)
    git_commit(repo, "track data")
    if STATUS in wanted:
        for _ in range(status_runs):
            os.sync()
            seconds, stdout = timed(tool.status(), repo, tool.env)
            tool.check_clean(stdout)
            out.add(STATUS, tool.name, seconds)
    if PUSH in wanted:
        _push_once(tool, repo, repo.parent / f"{repo.name}.remote", settings.small_count, out)


def _push_once(tool: Tool, repo: Path, remote: Path, files: int, out: Samples) -> None:
    remote.mkdir()
    tool.remote_add(repo, remote)
    os.sync()
    seconds, _ = timed(tool.push(), repo, tool.env)
    out.add(PUSH, tool.name, seconds)
    landed = datagen.count_files(str(remote))
    if landed < files:
        raise CommandError(f"{tool.name} push left {landed} files on the remote, not {files}")


def machine_facts(tools: Sequence[Tool], tmp: Path) -> dict[str, str]:
    facts = {
        "nproc": run(["nproc"], tmp).strip(),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "kernel": os.uname().release,
        "filesystem": run(["findmnt", "-no", "FSTYPE", "-T", str(tmp)], tmp).strip(),
        "python": run([str(tools[0].exe.parent / "python"), "-V"], tmp).strip(),
        "openssl": run(["openssl", "version"], tmp).strip(),
        "git": run(["git", "--version"], tmp).strip(),
        "load_at_start": load_average(),
    }
    for tool in tools:
        facts[tool.name] = tool.version()
    return facts


def load_average() -> str:
    """1, 5 and 15 minute load averages: other work on the machine makes figures noisy."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as info:
            kib = int(info.readline().split()[1])
        return f"{kib / (1 << 20):.0f} GiB"
    except (OSError, ValueError, IndexError):
        return "unknown"
