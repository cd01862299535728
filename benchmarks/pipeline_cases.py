"""A no-op pipeline run beside ``dvc repro``: three stages, nothing changed.

Case (``benchmarks/run.py --only repro-noop``), target: lockstep at least 3x faster.

Each tool gets a fresh Git repository with the same three stages (prepare ->
train -> evaluate; each a ``python -c`` that reads its deps and writes its
outputs, prepare over 100 input files) declared in its own format
(``lockstep.yaml`` / ``dvc.yaml``), a ``params.yaml``, and one untimed full run
followed by a commit. The timed command is the second run, where every stage is
up to date: ``lockstep run`` and ``dvc repro``. Wall-clock time of the whole
process, best of the repetitions, tools alternating.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from tools import CommandError, Tool, git_commit, git_repo, run, timed

if TYPE_CHECKING:
    from cases import Samples

NOOP = "repro-noop"
PIPELINE_CASES = (NOOP,)
TARGETS = {NOOP: 3.0}

PREPARE = (
    "import glob, os; os.makedirs('prepared', exist_ok=True); "
    "open('prepared/all.txt', 'w')"
    ".write(''.join(open(f).read() for f in sorted(glob.glob('raw/*'))))"
)
TRAIN = "open('model.txt', 'w').write(str(len(open('prepared/all.txt').read())))"
EVALUATE = (
    "import json; json.dump({'score': int(open('model.txt').read()) / 1000}, "
    "open('metrics.json', 'w'))"
)


def stages(python: str) -> dict[str, dict[str, object]]:
    return {
        "prepare": {
            "cmd": f'{python} -c "{PREPARE}"',
            "deps": ["raw"],
            "params": ["prepare.seed"],
            "outs": ["prepared"],
        },
        "train": {
            "cmd": f'{python} -c "{TRAIN}"',
            "deps": ["prepared"],
            "params": ["train.lr"],
            "outs": ["model.txt"],
        },
        "evaluate": {
            "cmd": f'{python} -c "{EVALUATE}"',
            "deps": ["model.txt"],
            "metrics": ["metrics.json"],
        },
    }


def _dvc_stages(python: str) -> dict[str, dict[str, object]]:
    converted = {}
    for name, stage in stages(python).items():
        body = {k: v for k, v in stage.items() if k != "metrics"}
        if "metrics" in stage:
            body["metrics"] = [{m: {"cache": True}} for m in stage["metrics"]]  # type: ignore[attr-defined]
        converted[name] = body
    return converted


def _setup(tool: Tool, repo: Path, python: str) -> list[str]:
    """A committed repository where the pipeline ran once; the no-op command."""
    git_repo(repo)
    tool.init(repo)
    raw = repo / "raw"
    raw.mkdir()
    for i in range(100):
        (raw / f"{i:03d}.txt").write_text(f"row {i}\n" * 20)
    (repo / "params.yaml").write_text("prepare:\n  seed: 1\ntrain:\n  lr: 0.1\n")
    if tool.name == "dvc":
        (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": _dvc_stages(python)}))
        command = tool.cmd("repro", "--quiet")
    else:
        body = {"version": 1, "stages": stages(python)}
        (repo / "lockstep.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
        command = tool.cmd("run")
    run(command, repo, tool.env)
    git_commit(repo, f"{tool.name} pipeline")
    return command


def bench_pipeline(tools: list[Tool], tmp: Path, samples: Samples, reps: int, python: str) -> None:
    repos = {tool.name: _setup(tool, tmp / f"pipeline-{tool.name}", python) for tool in tools}
    for rep in range(reps):
        for tool in tools if rep % 2 == 0 else list(reversed(tools)):
            repo = tmp / f"pipeline-{tool.name}"
            seconds, out = timed(repos[tool.name], repo, tool.env)
            if tool.name == "lockstep" and out.count("up to date") != 3:
                raise CommandError(f"lockstep run was not a no-op:\n{out}")
            samples.add(NOOP, tool.name, seconds)


def table(out: Samples, markdown: bool = False) -> str:
    """The no-op case's row: lockstep, DVC, ratio and verdict."""
    ours, theirs = out.best(NOOP, "lockstep"), out.best(NOOP, "dvc")
    if ours is None or theirs is None:
        return ""
    ratio = theirs / ours
    verdict = "PASS" if ratio >= TARGETS[NOOP] else "FAIL"
    cells = [
        "no-op run of 3 stages",
        f"{ours:.3f}",
        f"{theirs:.3f}",
        f">= {TARGETS[NOOP]:.0f}x faster than dvc repro",
        f"{ratio:.1f}x faster",
        f"**{verdict}**" if markdown else verdict,
    ]
    header = ["case", "lockstep s", "dvc s", "target", "measured", "result"]
    if markdown:
        rows = [header, ["---"] * len(header), cells]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"
    return "  ".join(header) + "\n" + "  ".join(cells)
