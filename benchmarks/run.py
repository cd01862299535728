"""Benchmark lockstep beside DVC on the same data, in one run (``make bench``).

Usage: .venv/bin/python benchmarks/run.py [--quick] [--only NAME]... [--json FILE]

Cases (issue 2, "Speed"):
  add-large  add of one 1 GiB file; also times ``openssl dgst -sha256`` and ``cp`` on it
  add-small  add of 20,000 small files (100 B..4 KiB, in 100 folders)
  status     no-op status right after that add
  push       push of those 20,000 files to a fresh local remote
  log-metrics, create-runs, search-runs   run tracking beside MLflow (tracking_cases.py)
  repro-noop  a no-op run of a 3-stage pipeline beside dvc repro (pipeline_cases.py)
  serve      one model served by lockstep serve and mlflow models serve, under wrk (serve_cases.py)
  drift      drift of 20 features, 100,000 and 1,000,000 rows, beside scipy and Evidently
             (drift_cases.py)

Each figure is the best wall-clock time of the whole CLI process over the
repetitions. DVC is installed from PyPI into benchmarks/.venv-dvc on first use.
The tracking cases time a loop inside one Python process per tool; MLflow is
installed into benchmarks/.venv-mlflow on first use.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import drift_cases
import pipeline_cases
import report
import serve_cases
import tracking_cases
from cases import (
    CASES,
    LARGE,
    PUSH,
    SMALL,
    STATUS,
    Samples,
    Settings,
    bench_large,
    bench_small,
    load_average,
    machine_facts,
    warm_up,
)
from tools import (
    HERE,
    PROJECT,
    Dvc,
    Lockstep,
    Tool,
    ensure_dvc,
    keep_dvc_state_in,
    rmtree,
    use_bytecode_cache,
)

ALL_CASES = (
    CASES
    + tracking_cases.TRACKING_CASES
    + pipeline_cases.PIPELINE_CASES
    + serve_cases.SERVE_CASES
    + drift_cases.DRIFT_CASES
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes (128 MiB, 2,000 files), for a smoke run"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ALL_CASES,
        metavar="NAME",
        help=f"run only this case (repeatable): {', '.join(ALL_CASES)}",
    )
    parser.add_argument("--json", metavar="FILE", help="write every sample and the machine facts")
    parser.add_argument("--markdown", metavar="FILE", help="write the results table as Markdown")
    parser.add_argument("--reps", type=int, help="repetitions for every case (default 3; 2 large)")
    parser.add_argument(
        "--tmp", metavar="DIR", default=str(HERE / ".tmp"), help="where repositories are made"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (debugging)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(
        large_size=(128 << 20) if args.quick else (1 << 30),
        small_count=2_000 if args.quick else 20_000,
        reps_small=args.reps or 3,
        reps_large=args.reps or 2,
        only=frozenset(args.only or ALL_CASES),
    )


def temp_root(base: str) -> Path:
    Path(base).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-", dir=base))
    if os.stat(tmp).st_dev != os.stat(PROJECT).st_dev:
        print(f"warning: {tmp} is not on the same file system as {PROJECT}", file=sys.stderr)
    return tmp


def run_cases(
    settings: Settings, tools: list[Tool], tmp: Path, samples: Samples, facts: dict[str, str]
) -> None:
    """Every selected case, in a fixed order."""
    if LARGE in settings.only:
        bench_large(settings, tools, tmp, samples)
    if settings.only & {SMALL, STATUS, PUSH}:
        bench_small(settings, tools, tmp, samples)
    if settings.only & set(tracking_cases.TRACKING_CASES):
        tracking_cases.bench_tracking(settings, tmp, samples)
        facts["mlflow"] = tracking_cases.mlflow_version()
    if pipeline_cases.NOOP in settings.only:
        reps = max(5, settings.reps_small)
        pipeline_cases.bench_pipeline(tools, tmp, samples, reps, sys.executable)
    if serve_cases.SERVE in settings.only:
        serve_cases.bench_serve(settings, samples)
    if drift_cases.DRIFT in settings.only:
        drift_cases.bench_drift(settings, samples)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = settings_from(args)
    ensure_dvc()
    tmp = temp_root(args.tmp)
    use_bytecode_cache(tmp / "pycache")
    keep_dvc_state_in(tmp / "dvc-site-cache")
    tools = [Lockstep(), Dvc()]
    samples = Samples()
    started = datetime.datetime.now(datetime.timezone.utc)
    try:
        facts = machine_facts(tools, tmp)
        print("machine: " + ", ".join(f"{k}={v}" for k, v in facts.items()), flush=True)
        if settings.only & set(CASES):
            warm_up(tools, tmp)
        run_cases(settings, tools, tmp, samples, facts)
        facts["load_at_end"] = load_average()
    finally:
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            rmtree(tmp)
            os.sync()  # ext4 treats deleted inodes as "recent" longer while unsynced
    table = report.rows(samples, settings)
    refs = report.references(samples, settings)
    print()
    if table or refs:
        print(report.text_table(table, refs))
    tracked = tracking_cases.rows(samples)
    if tracked:
        print("\n" + tracking_cases.text_table(samples))
    if pipeline_cases.table(samples):
        print("\n" + pipeline_cases.table(samples))
    if serve_cases.has_results(samples):
        print("\n" + serve_cases.text_table(samples))
    if drift_cases.has_results(samples):
        print("\n" + drift_cases.text_table(samples))
    print(
        f"\nload average (1/5/15 min): {facts['load_at_start']} at start, "
        f"{facts.get('load_at_end', '?')} at end"
    )
    if args.markdown:
        parts = [report.markdown_table(table, refs)] if table or refs else []
        parts += [tracking_cases.markdown_table(samples)] if tracked else []
        parts += (
            [pipeline_cases.table(samples, markdown=True)] if pipeline_cases.table(samples) else []
        )
        parts += [serve_cases.markdown_table(samples)] if serve_cases.has_results(samples) else []
        parts += [drift_cases.markdown_table(samples)] if drift_cases.has_results(samples) else []
        Path(args.markdown).write_text("\n".join(parts))
    if args.json:
        write_json(Path(args.json), args, settings, facts, samples, table, started)
    missed = (
        [r.label for r in table if r.verdict == "FAIL"]
        + [row[0] for row in tracked if row[-1] == "FAIL"]
        + serve_cases.missed(samples)
        + drift_cases.missed(samples)
    )
    return 1 if args.check and missed else 0


def write_json(
    path: Path,
    args: argparse.Namespace,
    settings: Settings,
    facts: dict[str, str],
    samples: Samples,
    table: list[report.Row],
    started: datetime.datetime,
) -> None:
    data = {
        "started": started.isoformat(timespec="seconds"),
        "quick": args.quick,
        "settings": {
            "large_size": settings.large_size,
            "small_count": settings.small_count,
            "reps_small": settings.reps_small,
            "reps_large": settings.reps_large,
            "only": sorted(settings.only),
        },
        "machine": facts,
        "samples": samples.times,
        "notes": samples.notes,
        "results": [
            {
                "case": r.case,
                "label": r.label,
                "lockstep": r.lockstep,
                "dvc": r.dvc,
                "dvc_over_lockstep": r.speedup,
                "dvc_in_issue": r.issue,
                "target": r.target,
                "measured": r.measured,
                "result": r.verdict,
            }
            for r in table
        ],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
