"""Drift detection beside a scipy loop, a numpy sort and Evidently, on the same data.

Case (``benchmarks/run.py --only drift``, or ``python benchmarks/drift_cases.py``):
a reference and a current table of ROWS rows x 20 numeric features, for ROWS =
100,000 and 1,000,000 (100,000 only with ``--quick``). The features are seeded
draws from normal, log-normal, uniform, exponential and gamma distributions; the
current table shifts four of them mildly (a mean moved by 0.05 and 0.25 standard
deviations, a spread widened by 20%, a log-normal's scale up by 10%) and draws the
other sixteen again from the same distribution.

Timed, each the best of the repetitions after one untimed warm-up:

- ``lockstep detect``: ``detect(open_source(ref.parquet), open_source(cur.parquet))``
  with its defaults (two features at a time), everything included: reading both
  Parquet files (row groups of 100,000 rows) one column at a time, KS with its
  p-value and critical value, PSI, Wasserstein, histograms, the verdicts;
- ``lockstep detect, 1 thread``: the same with one feature at a time;
- ``scipy ks_2samp loop``: ``scipy.stats.ks_2samp(ref[:, i], cur[:, i])`` for each
  feature, on arrays already in memory (reading not timed): the KS test alone;
- ``numpy sort floor``: ``np.sort`` of both columns of each feature, in memory: what
  any method that sorts must pay;
- ``Evidently DataDriftPreset``: ``Report([DataDriftPreset()]).run(current_data=...,
  reference_data=...)`` on pandas DataFrames already in memory, in Evidently's own
  virtual environment (``benchmarks/.venv-evidently``, made on first use with
  ``pip install evidently "pandas<3"``: Evidently 0.7 imports a pandas function that
  pandas 3 removed). At 1,000,000 rows Evidently runs once.

Targets: lockstep no slower than the scipy KS loop at both sizes, and at least 7x
faster than Evidently. Figures are measured and judged, never asserted by a test.

This file is also what Evidently's interpreter runs: ``python drift_cases.py
evidently DIR REPS`` loads ``DIR/reference.npy`` and ``DIR/current.npy`` and prints
``{"seconds": [...], "version": ..., "drifted": ...}``; it imports nothing of the
benchmark at the top.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from cases import Samples, Settings

DRIFT = "drift"
DRIFT_CASES = (DRIFT,)
FEATURES = 20
SIZES = (100_000, 1_000_000)
QUICK_SIZES = (100_000,)
ROW_GROUP = 100_000
SEED = 20
MIN_SCIPY_RATIO = 1.0
MIN_EVIDENTLY_RATIO = 7.0
HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
EVIDENTLY_PYTHON = EVIDENTLY_VENV / "bin" / "python"
EVIDENTLY_SPEC = ("evidently", "pandas<3")

LOCKSTEP = "lockstep detect"
LOCKSTEP_ONE = "lockstep detect, 1 thread"
SCIPY = "scipy ks_2samp loop"
SORT = "numpy sort floor"
EVIDENTLY = "Evidently DataDriftPreset"
TOOLS = (LOCKSTEP, LOCKSTEP_ONE, SCIPY, SORT, EVIDENTLY)


# --- data ---------------------------------------------------------------------------------


def tables(rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(reference, current) as float64 arrays of shape (rows, FEATURES)."""
    import numpy as np

    rng = np.random.default_rng(SEED)

    def draw(i: int, shifted: bool) -> np.ndarray:
        kind = i % 5
        if kind == 0:
            return rng.normal(10.0 + (0.25 * 2 if shifted and i == 0 else 0.0), 2.0, rows)
        if kind == 1:
            return rng.lognormal(0.0 + (np.log(1.1) if shifted and i == 1 else 0.0), 0.5, rows)
        if kind == 2:
            return rng.uniform(0.0, 1.0, rows)
        if kind == 3:
            return rng.exponential(1.0, rows) * (1.2 if shifted and i == 3 else 1.0)
        return rng.gamma(2.0, 1.0, rows) + (0.05 * 2**0.5 if shifted and i == 4 else 0.0)

    reference = np.column_stack([draw(i, False) for i in range(FEATURES)])
    current = np.column_stack([draw(i, True) for i in range(FEATURES)])
    return reference, current


def write_tables(rows: int, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The tables as Parquet (for lockstep) and .npy (for Evidently's process)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    reference, current = tables(rows)
    for name, values in (("reference", reference), ("current", current)):
        columns = {f"x{i}": values[:, i] for i in range(FEATURES)}
        pq.write_table(pa.table(columns), folder / f"{name}.parquet", row_group_size=ROW_GROUP)
        np.save(folder / f"{name}.npy", values)
    return reference, current


# --- the timed work ---------------------------------------------------------------------


def best_of(reps: int, work: Any) -> tuple[list[float], Any]:
    work()  # warm-up: imports, page cache
    times, found = [], None
    for _ in range(reps):
        start = time.perf_counter()
        found = work()
        times.append(time.perf_counter() - start)
    return times, found


def lockstep_detect(folder: Path, threads: int) -> list[str]:
    import lockstep.monitor.drift as drift
    from lockstep.monitor.sources import open_source

    default, drift.LOCAL_THREADS = drift.LOCAL_THREADS, threads
    try:
        result = drift.detect(
            open_source(str(folder / "reference.parquet")),
            open_source(str(folder / "current.parquet")),
        )
    finally:
        drift.LOCAL_THREADS = default
    return [f.name for f in result.drifted_features]


def scipy_loop(reference: np.ndarray, current: np.ndarray) -> list[float]:
    from scipy import stats

    return [float(stats.ks_2samp(reference[:, i], current[:, i]).pvalue) for i in range(FEATURES)]


def sort_floor(reference: np.ndarray, current: np.ndarray) -> None:
    import numpy as np

    for i in range(FEATURES):
        np.sort(reference[:, i])
        np.sort(current[:, i])


def evidently_run(folder: str, reps: int) -> dict[str, Any]:
    """Runs in Evidently's interpreter: time DataDriftPreset on the saved tables."""
    import evidently
    import numpy as np
    import pandas as pd

    try:
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:  # Evidently before 0.7
        from evidently.metric_preset import DataDriftPreset  # type: ignore[no-redef]
        from evidently.report import Report  # type: ignore[no-redef]

    def frame(name: str) -> pd.DataFrame:
        values = np.load(Path(folder) / f"{name}.npy")
        return pd.DataFrame({f"x{i}": values[:, i] for i in range(values.shape[1])})

    reference, current = frame("reference"), frame("current")

    def work(ref: pd.DataFrame, cur: pd.DataFrame) -> Any:
        return Report(metrics=[DataDriftPreset()]).run(reference_data=ref, current_data=cur)

    work(reference.head(2_000), current.head(2_000))
    seconds, found = [], None
    for _ in range(reps):
        start = time.perf_counter()
        found = work(reference, current)
        seconds.append(time.perf_counter() - start)
    return {"seconds": seconds, "version": evidently.__version__, "drifted": _drifted(found)}


def _drifted(snapshot: Any) -> Any:
    """Evidently's count of drifted columns, when its output has the usual shape."""
    try:
        for metric in snapshot.dict()["metrics"]:
            if str(metric.get("metric_name", "")).startswith("DriftedColumnsCount"):
                return int(metric["value"]["count"])
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    return None


def ensure_evidently() -> None:
    """Create ``benchmarks/.venv-evidently`` with Evidently from PyPI unless it works."""
    from tools import CommandError, run

    if EVIDENTLY_PYTHON.exists():
        try:
            run([str(EVIDENTLY_PYTHON), "-c", "import evidently.presets"], HERE)
            return
        except CommandError:
            pass
    print(f"installing {' '.join(EVIDENTLY_SPEC)} into {EVIDENTLY_VENV} ...", file=sys.stderr)
    if not EVIDENTLY_PYTHON.exists():
        run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], HERE)
    (EVIDENTLY_VENV / ".gitignore").write_text("*\n")
    run([str(EVIDENTLY_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], HERE)
    run([str(EVIDENTLY_PYTHON), "-m", "pip", "install", "--quiet", *EVIDENTLY_SPEC], HERE)


def time_evidently(folder: Path, reps: int) -> dict[str, Any]:
    argv = [
        str(EVIDENTLY_PYTHON),
        str(Path(__file__).resolve()),
        "evidently",
        str(folder),
        str(reps),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"Evidently failed:\n{done.stderr[-3000:]}")
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


# --- the case -----------------------------------------------------------------------------


def bench_drift(settings: Settings, out: Samples) -> None:
    """Every size, every tool; samples go to ``out.times[DRIFT]``."""
    quick = settings.small_count < 20_000
    bench_sizes(QUICK_SIZES if quick else SIZES, settings.reps_small, out)


def bench_sizes(sizes: tuple[int, ...], reps: int, out: Samples) -> None:
    ensure_evidently()
    results = out.times.setdefault(DRIFT, {})
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="lockstep-drift-bench-") as tmp:
            folder = Path(tmp)
            reference, current = write_tables(rows, folder)
            runs = {
                LOCKSTEP: partial(lockstep_detect, folder, 2),
                LOCKSTEP_ONE: partial(lockstep_detect, folder, 1),
                SCIPY: partial(scipy_loop, reference, current),
                SORT: partial(sort_floor, reference, current),
            }
            for tool, work in runs.items():
                seconds, found = best_of(reps, work)
                results[key(tool, rows)] = seconds
                _say(tool, rows, seconds)
                if tool == LOCKSTEP:
                    out.notes[f"drift_lockstep_flagged_{rows}"] = ", ".join(found)
            evidently = time_evidently(folder, reps if rows <= 100_000 else 1)
            results[key(EVIDENTLY, rows)] = evidently["seconds"]
            _say(EVIDENTLY, rows, evidently["seconds"])
            out.notes["evidently"] = str(evidently["version"])
            out.notes[f"drift_evidently_flagged_{rows}"] = str(evidently["drifted"])


def key(tool: str, rows: int) -> str:
    return f"{tool}, {rows:,} rows"


def _say(tool: str, rows: int, seconds: list[float]) -> None:
    shown = ", ".join(f"{s:.3f}" for s in seconds)
    print(f"  {DRIFT:<10} {key(tool, rows):<44} best {min(seconds):8.3f} s  ({shown})", flush=True)


# --- the report ---------------------------------------------------------------------------


def _best(out: Samples, tool: str, rows: int) -> float | None:
    found = out.times.get(DRIFT, {}).get(key(tool, rows))
    return min(found) if found else None


def _sizes(out: Samples) -> list[int]:
    """The sizes measured, in order."""
    return [rows for rows in SIZES if key(LOCKSTEP, rows) in out.times.get(DRIFT, {})]


def cells(out: Samples) -> list[list[str]]:
    """(size, tool, best s, tool / lockstep) rows."""
    lines = []
    for rows in _sizes(out):
        ours = _best(out, LOCKSTEP, rows)
        for tool in TOOLS:
            seconds = _best(out, tool, rows)
            if seconds is None:
                continue
            ratio = "-" if not ours else f"{seconds / ours:.2f}x"
            lines.append([f"{rows:,} x {FEATURES}", tool, f"{seconds:.3f}", ratio])
    return lines


def verdicts(out: Samples) -> list[tuple[str, str, str]]:
    found = []
    for rows in _sizes(out):
        ours = _best(out, LOCKSTEP, rows)
        for tool, target in ((SCIPY, MIN_SCIPY_RATIO), (EVIDENTLY, MIN_EVIDENTLY_RATIO)):
            theirs = _best(out, tool, rows)
            if ours and theirs:
                ratio = theirs / ours
                verdict = "PASS" if ratio >= target else "MISS"
                wording = "no slower than" if target == 1.0 else f">= {target:.0f}x faster than"
                found.append((f"{rows:,} rows: {wording} {tool}", f"{ratio:.1f}x", verdict))
    return found


def has_results(out: Samples) -> bool:
    return bool(out.times.get(DRIFT))


def missed(out: Samples) -> list[str]:
    return [target for target, _, verdict in verdicts(out) if verdict == "MISS"]


HEADERS = ["rows x features", "tool", "best s", "vs lockstep detect"]


def text_table(out: Samples) -> str:
    def aligned(lines: list[list[str]]) -> list[str]:
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        text = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        text.insert(1, "  ".join("-" * w for w in widths))
        return text

    parts = aligned([HEADERS, *cells(out)])
    judged = verdicts(out)
    if judged:
        parts += ["", *aligned([["target", "measured", "result"], *map(list, judged)])]
    return "\n".join(parts)


def markdown_table(out: Samples) -> str:
    def table(header: list[str], lines: list[list[str]]) -> str:
        rows = [header, ["---"] * len(header), *lines]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"

    parts = [table(HEADERS, cells(out))]
    judged = [[t, m, f"**{v}**"] for t, m, v in verdicts(out)]
    if judged:
        parts.append(table(["target", "measured", "result"], judged))
    return "\n".join(parts)


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Drift detection beside scipy and Evidently.")
    parser.add_argument("--quick", action="store_true", help="100,000 rows only")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--json", metavar="FILE", help="write every sample")
    parser.add_argument("--markdown", metavar="FILE", help="write the tables as Markdown")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    from cases import Samples

    samples = Samples()
    samples.notes["load_at_start"] = _load()
    bench_sizes(QUICK_SIZES if args.quick else SIZES, args.reps, samples)
    samples.notes["load_at_end"] = _load()
    print("\n" + text_table(samples))
    for name, value in samples.notes.items():
        print(f"{name}: {value}")
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(samples))
    if args.json:
        data = {"samples": samples.times, "notes": samples.notes}
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    return 1 if args.check and missed(samples) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["evidently"]:
        print(json.dumps(evidently_run(sys.argv[2], int(sys.argv[3]))))
        sys.exit(0)
    sys.path.insert(0, str(HERE))
    sys.exit(main())
