"""Run tracking beside MLflow: the same logging work, each timed inside one Python process.

Cases (``benchmarks/run.py --only NAME``):
  log-metrics  1,000 log_metric calls in one run (lockstep: and the final flush)   >= 20x
  create-runs  1,000 runs, each started, given one param and one metric, ended      >= 5x
  search-runs  "metrics.acc > 0.5 and params.group = 'a'" over those 1,000 runs    >= 5x

Both tools write to SQLite from a fresh Git repository with one commit: lockstep to
its workspace's default ``.lockstep/runs.db``, MLflow to ``sqlite:///mlflow.db``
(``mlflow.set_tracking_uri``). Each timed process imports its tool, creates and opens
its database untimed (one search with a limit of 1), then times the loop alone. Each
repetition is a new process; the figure is the best. MLflow is installed from PyPI
into ``benchmarks/.venv-mlflow`` on first use.

This file is also what the timed processes run: ``python tracking_cases.py TOOL CASE N``
prints ``{"seconds": …, "count": …}``; it imports nothing of the benchmark at the top,
so MLflow's interpreter can run it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cases import Samples, Settings

LOG = "log-metrics"
CREATE = "create-runs"
SEARCH = "search-runs"
TRACKING_CASES = (LOG, CREATE, SEARCH)
TARGETS = {LOG: 20.0, CREATE: 5.0, SEARCH: 5.0}
FILTER = "metrics.acc > 0.5 and params.group = 'a'"
MLFLOW_URI = "sqlite:///mlflow.db"
TOOLS = ("lockstep", "mlflow")
HERE = Path(__file__).resolve().parent
MLFLOW_VENV = HERE / ".venv-mlflow"
MLFLOW_PYTHON = MLFLOW_VENV / "bin" / "python"


def values(n: int) -> list[float]:
    """Deterministic metric values in [0, 1), about half above 0.5."""
    return [(i * 7919 % 1000) / 1000 for i in range(n)]


def group(i: int) -> str:
    return "a" if i % 2 == 0 else "b"


# --- the timed processes: lockstep ---------------------------------------------------------


def lockstep_log(n: int) -> tuple[float, int]:
    from lockstep import tracking

    points = values(n)
    with tracking.start_run(name="log-metrics") as run:
        start = time.perf_counter()
        for step in range(n):
            run.log_metric("loss", points[step], step=step)
        run.flush()
        elapsed = time.perf_counter() - start
    return elapsed, n


def lockstep_create(n: int) -> tuple[float, int]:
    from lockstep import tracking

    tracking.search_runs(limit=1)  # creates and opens the database: untimed
    points = values(n)
    start = time.perf_counter()
    for i in range(n):
        with tracking.start_run(name=f"run-{i}") as run:
            run.log_param("group", group(i))
            run.log_metric("acc", points[i])
    return time.perf_counter() - start, n


def lockstep_search(n: int) -> tuple[float, int]:
    from lockstep import tracking

    tracking.search_runs(limit=1)
    start = time.perf_counter()
    found = tracking.search_runs(filter=FILTER)
    return time.perf_counter() - start, len(found)


# --- the timed processes: MLflow ------------------------------------------------------------


def mlflow_log(n: int) -> tuple[float, int]:
    import mlflow

    mlflow.set_tracking_uri(MLFLOW_URI)
    points = values(n)
    with mlflow.start_run(run_name="log-metrics"):
        start = time.perf_counter()
        for step in range(n):
            mlflow.log_metric("loss", points[step], step=step)
        elapsed = time.perf_counter() - start
    return elapsed, n


def mlflow_create(n: int) -> tuple[float, int]:
    import mlflow

    mlflow.set_tracking_uri(MLFLOW_URI)
    mlflow.MlflowClient().search_runs(["0"], max_results=1)  # creates and opens: untimed
    points = values(n)
    start = time.perf_counter()
    for i in range(n):
        with mlflow.start_run(run_name=f"run-{i}"):
            mlflow.log_param("group", group(i))
            mlflow.log_metric("acc", points[i])
    return time.perf_counter() - start, n


def mlflow_search(n: int) -> tuple[float, int]:
    import mlflow

    mlflow.set_tracking_uri(MLFLOW_URI)
    client = mlflow.MlflowClient()
    client.search_runs(["0"], max_results=1)
    start = time.perf_counter()
    found = client.search_runs(["0"], filter_string=FILTER, max_results=max(n, 1000))
    return time.perf_counter() - start, len(found)


DRIVERS: dict[tuple[str, str], Callable[[int], tuple[float, int]]] = {
    ("lockstep", LOG): lockstep_log,
    ("lockstep", CREATE): lockstep_create,
    ("lockstep", SEARCH): lockstep_search,
    ("mlflow", LOG): mlflow_log,
    ("mlflow", CREATE): mlflow_create,
    ("mlflow", SEARCH): mlflow_search,
}


def drive(argv: list[str]) -> int:
    tool, case, n = argv[0], argv[1], int(argv[2])
    seconds, count = DRIVERS[(tool, case)](n)
    print(json.dumps({"seconds": seconds, "count": count}))
    return 0


# --- the orchestration (benchmarks/run.py) ---------------------------------------------------


def ensure_mlflow(spec: str = "mlflow") -> None:
    """Create ``benchmarks/.venv-mlflow`` with MLflow from PyPI unless it works already."""
    from tools import CommandError, run

    if MLFLOW_PYTHON.exists():
        try:
            run([str(MLFLOW_PYTHON), "-c", "import mlflow"], HERE)
            return
        except CommandError:
            pass
    print(f"installing {spec} into {MLFLOW_VENV} ...", file=sys.stderr, flush=True)
    if not MLFLOW_PYTHON.exists():
        run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], HERE)
    (MLFLOW_VENV / ".gitignore").write_text("*\n")
    run([str(MLFLOW_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], HERE)
    run([str(MLFLOW_PYTHON), "-m", "pip", "install", "--quiet", spec], HERE)


def mlflow_version() -> str:
    from tools import run

    code = "import mlflow; print(mlflow.__version__)"
    return "mlflow " + run([str(MLFLOW_PYTHON), "-c", code], HERE).strip()


def _python(tool: str) -> str:
    from tools import LOCKSTEP

    return str(LOCKSTEP.parent / "python") if tool == "lockstep" else str(MLFLOW_PYTHON)


def _timed(tool: str, case: str, n: int, repo: Path) -> tuple[float, int]:
    from tools import CommandError, base_env

    argv = [_python(tool), str(Path(__file__).resolve()), tool, case, str(n)]
    env = base_env() | {"GIT_PYTHON_REFRESH": "quiet"}
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise CommandError(f"{' '.join(argv)} (in {repo}) exited {done.returncode}:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["count"])


def _repo(tool: str, path: Path) -> Path:
    from tools import Lockstep, git_commit, git_repo

    git_repo(path)
    (path / "train.py").write_text("print('train')\n")
    if tool == "lockstep":
        Lockstep().init(path)
    git_commit(path, "init")
    return path


def bench_tracking(settings: Settings, tmp: Path, out: Samples) -> None:
    """Time the selected tracking cases for both tools, alternating their order."""
    ensure_mlflow()
    n = 200 if settings.small_count < 20_000 else 1_000
    out.notes["tracking_n"] = str(n)
    for tool in TOOLS:  # untimed warm-up: bytecode, page cache
        warm = _repo(tool, tmp / f"track-warm-{tool}")
        for case in (LOG, CREATE, SEARCH):
            _timed(tool, case, 5, warm)
    for rep in range(settings.reps_small):
        for tool in TOOLS if rep % 2 == 0 else tuple(reversed(TOOLS)):
            _tracking_once(tool, settings.only, n, tmp / f"track-{tool}-{rep}", out)
    _check_counts(out)


def _tracking_once(tool: str, only: frozenset[str], n: int, base: Path, out: Samples) -> None:
    if LOG in only:
        out.add(LOG, tool, _timed(tool, LOG, n, _repo(tool, base / "log"))[0])
    if only & {CREATE, SEARCH}:
        repo = _repo(tool, base / "runs")
        seconds, _ = _timed(tool, CREATE, n, repo)
        if CREATE in only:
            out.add(CREATE, tool, seconds)
        if SEARCH in only:
            seconds, count = _timed(tool, SEARCH, n, repo)
            out.add(SEARCH, tool, seconds)
            out.notes[f"search_matches_{tool}"] = str(count)


def _check_counts(out: Samples) -> None:
    from tools import CommandError

    found = {out.notes.get(f"search_matches_{tool}") for tool in TOOLS}
    if len(found) > 1:
        raise CommandError(f"the tools found different numbers of runs: {sorted(map(str, found))}")


def labels(n: int) -> dict[str, str]:
    return {
        LOG: f"{n:,} log_metric calls in one run",
        CREATE: f"create {n:,} runs (param, metric, end)",
        SEARCH: f"filtered search over {n:,} runs",
    }


def rows(out: Samples) -> list[tuple[str, float | None, float | None, str, str]]:
    """(label, lockstep s, MLflow s, measured, result) of each case that ran."""
    n = int(out.notes.get("tracking_n", "1000"))
    found = []
    for case in TRACKING_CASES:
        ours, theirs = out.best(case, "lockstep"), out.best(case, "mlflow")
        if ours is None and theirs is None:
            continue
        target = TARGETS[case]
        if ours and theirs:
            ratio = theirs / ours
            measured, verdict = f"{ratio:.1f}x faster", "PASS" if ratio >= target else "FAIL"
        else:
            measured, verdict = "n/a", "n/a"
        found.append((labels(n)[case], ours, theirs, measured, verdict))
    return found


HEADERS = ("case", "lockstep s", "MLflow s", "target", "measured", "result")


def _cells(row: tuple[str, float | None, float | None, str, str], case: str) -> list[str]:
    label, ours, theirs, measured, verdict = row
    seconds = ["-" if v is None else f"{v:.4f}" for v in (ours, theirs)]
    return [label, *seconds, f">= {TARGETS[case]:.0f}x faster than MLflow", measured, verdict]


def _table_cells(out: Samples) -> list[list[str]]:
    ran = [c for c in TRACKING_CASES if out.best(c, "lockstep") or out.best(c, "mlflow")]
    return [_cells(row, case) for row, case in zip(rows(out), ran, strict=True)]


def text_table(out: Samples) -> str:
    lines = [list(HEADERS), *_table_cells(out)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    text = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def markdown_table(out: Samples) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for cells in _table_cells(out):
        cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(drive(sys.argv[1:]))
