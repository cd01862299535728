"""Model serving beside MLflow: the same fitted model behind each server, loaded by wrk.

Case (``benchmarks/run.py --only serve``): a scikit-learn LogisticRegression on 20
features (fitted on seeded random data), one server process each, on loopback:

- lockstep: the model saved with skops, ``lockstep serve PATH --port P --workers 1``
  run from a temp folder outside any Git repository (a path needs no workspace), with
  ``LOCKSTEP_SERVE_TOKEN`` unset;
- MLflow: the same fitted model saved with ``mlflow.sklearn.save_model`` (with a
  signature, x0..x19 doubles, as lockstep infers one), served by
  ``mlflow models serve -m DIR -h 127.0.0.1 -p P --env-manager local -w 1``.

Both get the same one-row ``{"dataframe_split": ...}`` body on MLflow's ``/invocations``;
lockstep is also loaded on its Open Inference Protocol route
``/v2/models/model/infer`` with one ``[1, 20]`` FP64 tensor. Before timing, both
servers must give the in-process model's predictions for a few rows. Each load is
``wrk --latency`` for 10 s (3 s with ``--quick``) after an untimed 2 s warm-up:
sequential (``-t1 -c1``) and concurrency 16 (``-t2 -c16``). The bare in-process
``predict`` of one row (median of 2,000 calls) is the floor. One pass, no repetitions:
each figure comes from one 10 s run (the other server sits idle meanwhile). Every
server is stopped through its process group at the end, also on failure.

Targets (lockstep, one worker): sequential p50 <= 1.5 ms; at concurrency 16 at least 8x
MLflow's throughput, with p99 under 50 ms.

This file is also what MLflow's interpreter runs to save the model:
``python serve_cases.py save-mlflow PICKLE DIR``; it imports nothing of the benchmark
at the top.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cases import Samples, Settings

SERVE = "serve"
SERVE_CASES = (SERVE,)
FEATURES = 20
SEED = 20
TRAIN_ROWS = 2_000
CHECK_ROWS = 8
MAX_P50_MS = 1.5
MIN_RATIO = 8.0
MAX_P99_MS = 50.0
WARM_UP_SECONDS = 2
PREDICT_CALLS = 2_000
HERE = Path(__file__).resolve().parent
MLFLOW_BIN = HERE / ".venv-mlflow" / "bin"

LOCKSTEP_INV = "lockstep /invocations"
LOCKSTEP_OIP = "lockstep OIP /v2/models/model/infer"
MLFLOW_INV = "MLflow /invocations"
ENDPOINTS = (LOCKSTEP_INV, LOCKSTEP_OIP, MLFLOW_INV)
SEQUENTIAL = "sequential"
CONCURRENT = "concurrency 16"
LOADS = {SEQUENTIAL: (1, 1), CONCURRENT: (2, 16)}  # wrk threads, connections
METRICS = ("p50_ms", "p99_ms", "rps")
BARE = "in-process predict, 1 row (median ms)"


def columns() -> list[str]:
    return [f"x{i}" for i in range(FEATURES)]


def data() -> tuple[Any, Any, Any]:
    """Training features, labels and a few held-out rows, from a seeded RNG."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    weights = rng.normal(size=FEATURES)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES))
    y = (x @ weights + rng.normal(scale=0.5, size=TRAIN_ROWS) > 0).astype(int)
    return x, y, rng.normal(size=(CHECK_ROWS, FEATURES))


def invocations_body(rows: list[list[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": columns(), "data": rows}}).encode()


def oip_body(rows: list[list[float]]) -> bytes:
    tensor = {"name": "input-0", "shape": [len(rows), FEATURES], "datatype": "FP64", "data": rows}
    return json.dumps({"inputs": [tensor]}).encode()


def body(endpoint: str, rows: list[list[float]]) -> bytes:
    return oip_body(rows) if endpoint == LOCKSTEP_OIP else invocations_body(rows)


# --- run by MLflow's interpreter --------------------------------------------------------


def save_mlflow(pickled: str, folder: str) -> int:
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    with open(pickled, "rb") as handle:
        model = pickle.load(handle)  # written by the benchmark a moment ago
    example = pd.DataFrame(data()[2], columns=columns())
    signature = infer_signature(example, model.predict(example.to_numpy()))
    mlflow.sklearn.save_model(model, folder, signature=signature)
    return 0


# --- servers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group, SIGKILL after 20 s."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    with contextlib.suppress(ProcessLookupError):  # what the leader left in its group
        os.killpg(proc.pid, signal.SIGKILL)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 90) -> None:
    """Return once ``url`` answers 200; CommandError if the server died or timed out."""
    from tools import CommandError

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if proc.poll() is not None:
            raise CommandError(f"server exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise CommandError(f"{url} not ready after {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())


def _predictions(endpoint: str, answer: Any) -> list[Any]:
    if endpoint == LOCKSTEP_OIP:
        return next(o for o in answer["outputs"] if o["name"] == "predict")["data"]
    return list(answer["predictions"])


def check_same(urls: dict[str, str], rows: list[list[float]], expected: list[int]) -> None:
    """Every endpoint gives the in-process predictions, for all rows at once and for the
    first row alone (the timed body)."""
    from tools import CommandError

    for endpoint, url in urls.items():
        for chunk, want in ((rows, expected), (rows[:1], expected[:1])):
            got = _predictions(endpoint, post(url, body(endpoint, chunk)))
            if [int(v) for v in got] != want:
                raise CommandError(f"{endpoint} predicted {got}, in-process predict {want}")


# --- load -------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(text: str) -> dict[str, float]:
    """p50 and p99 in ms and requests per second from ``wrk --latency`` output;
    CommandError when any request failed."""
    from tools import CommandError

    if "Non-2xx" in text or re.search(r"Socket errors: .*[1-9]", text):
        raise CommandError(f"wrk saw failed requests:\n{text}")
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not (p50 and p99 and rps):
        raise CommandError(f"cannot read wrk's output:\n{text}")
    return {"p50_ms": _ms(p50.group(1)), "p99_ms": _ms(p99.group(1)), "rps": float(rps.group(1))}


def lua_script(path: Path, body: bytes) -> Path:
    # a JSON string literal (ASCII) is a valid Lua string literal
    lines = [
        'wrk.method = "POST"',
        'wrk.headers["Content-Type"] = "application/json"',
        f"wrk.body = {json.dumps(body.decode())}",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def wrk(url: str, script: Path, threads: int, connections: int, seconds: int) -> str:
    from tools import run

    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    return run([*argv, "-s", str(script), url], script.parent)


def bare_predict_ms(model: Any, row: Any) -> float:
    """Median wall time of ``model.predict`` on one row, in ms."""
    for _ in range(100):
        model.predict(row)
    times = []
    for _ in range(PREDICT_CALLS):
        start = time.perf_counter()
        model.predict(row)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


# --- the orchestration (benchmarks/run.py) ---------------------------------------------


def _outside_git(folder: Path) -> None:
    from tools import CommandError

    inside = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--is-inside-work-tree"],
        capture_output=True,
        text=True,
        check=False,
    )
    if inside.returncode == 0:
        raise CommandError(f"{folder} is inside a Git repository; set TMPDIR elsewhere")


def _prepare(folder: Path) -> tuple[Any, list[list[float]], Path, Path]:
    """Fit the model; save it with skops (lockstep) and with MLflow."""
    import skops.io
    from sklearn.linear_model import LogisticRegression
    from tools import PROJECT, base_env, run

    x, y, held_out = data()
    model = LogisticRegression().fit(x, y)
    skops_file = folder / "model.skops"
    skops.io.dump(model, skops_file)
    pickled = folder / "model.pkl"
    pickled.write_bytes(pickle.dumps(model))
    mlflow_dir = folder / "mlflow-model"
    env = base_env() | {"GIT_PYTHON_REFRESH": "quiet"}
    run(
        [str(MLFLOW_BIN / "python"), __file__, "save-mlflow", str(pickled), str(mlflow_dir)],
        PROJECT,
        env,
    )
    return model, held_out.tolist(), skops_file, mlflow_dir


def _servers(
    folder: Path, skops_file: Path, mlflow_dir: Path, procs: list[subprocess.Popen[bytes]]
) -> dict[str, str]:
    """Start both servers (appending them to ``procs``), wait until they are ready;
    the endpoint URLs."""
    from tools import LOCKSTEP, base_env

    ours, theirs = free_port(), free_port()
    env = base_env()
    env.pop("LOCKSTEP_SERVE_TOKEN", None)
    cwd = folder / "cwd"
    cwd.mkdir()
    argv = [str(LOCKSTEP), "serve", str(skops_file), "--port", str(ours), "--workers", "1"]
    procs.append(_start(argv, cwd, env, folder / "lockstep.log"))
    env = base_env() | {"PATH": f"{MLFLOW_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("MLFLOW_TRACKING_URI", None)
    argv = [
        str(MLFLOW_BIN / "mlflow"),
        "models",
        "serve",
        "-m",
        str(mlflow_dir),
        "-h",
        "127.0.0.1",
        "-p",
        str(theirs),
        "--env-manager",
        "local",
        "-w",
        "1",
    ]
    procs.append(_start(argv, cwd, env, folder / "mlflow.log"))
    wait_ready(procs[0], f"http://127.0.0.1:{ours}/v2/health/ready", folder / "lockstep.log")
    wait_ready(procs[1], f"http://127.0.0.1:{theirs}/ping", folder / "mlflow.log")
    urls = {
        LOCKSTEP_INV: f"http://127.0.0.1:{ours}/invocations",
        LOCKSTEP_OIP: f"http://127.0.0.1:{ours}/v2/models/model/infer",
        MLFLOW_INV: f"http://127.0.0.1:{theirs}/invocations",
    }
    return urls


def bench_serve(settings: Settings, out: Samples) -> None:
    """Serve the model with both tools and load each endpoint with wrk."""
    import numpy as np
    from tools import rmtree
    from tracking_cases import ensure_mlflow

    ensure_mlflow()
    seconds = 3 if settings.small_count < 20_000 else 10
    folder = Path(tempfile.mkdtemp(prefix="lockstep-serve-bench-"))
    procs: list[subprocess.Popen[bytes]] = []
    results = out.times.setdefault(SERVE, {})
    try:
        _outside_git(folder)
        model, rows, skops_file, mlflow_dir = _prepare(folder)
        results[BARE] = [bare_predict_ms(model, np.asarray(rows[:1]))]
        print(f"  {SERVE:<10} {BARE:<40} {results[BARE][0]:8.3f} ms", flush=True)
        urls = _servers(folder, skops_file, mlflow_dir, procs)
        check_same(urls, rows, [int(v) for v in model.predict(np.asarray(rows))])
        scripts = {
            e: lua_script(folder / f"{i}.lua", body(e, rows[:1])) for i, e in enumerate(ENDPOINTS)
        }
        for n, (load, (threads, connections)) in enumerate(LOADS.items()):
            for endpoint in ENDPOINTS if n % 2 == 0 else tuple(reversed(ENDPOINTS)):
                wrk(urls[endpoint], scripts[endpoint], threads, connections, WARM_UP_SECONDS)
                found = parse_wrk(
                    wrk(urls[endpoint], scripts[endpoint], threads, connections, seconds)
                )
                for metric in METRICS:
                    results[f"{endpoint}, {load}, {metric}"] = [found[metric]]
                print(
                    f"  {SERVE:<10} {endpoint:<36} {load:<15} p50 {found['p50_ms']:7.2f} ms  "
                    f"p99 {found['p99_ms']:7.2f} ms  {found['rps']:9.0f} req/s",
                    flush=True,
                )
        out.notes["serve_wrk_seconds"] = str(seconds)
    finally:
        for proc in procs:
            stop(proc)
        rmtree(folder)


# --- the report -------------------------------------------------------------------------


def _get(out: Samples, endpoint: str, load: str, metric: str) -> float | None:
    found = out.times.get(SERVE, {}).get(f"{endpoint}, {load}, {metric}")
    return found[0] if found else None


def verdicts(out: Samples) -> list[tuple[str, str, str]]:
    """(target, measured, PASS/MISS) for each lockstep endpoint."""
    found = []
    theirs = _get(out, MLFLOW_INV, CONCURRENT, "rps")
    for endpoint in (LOCKSTEP_INV, LOCKSTEP_OIP):
        name = endpoint.split(" ", 1)[1]
        p50 = _get(out, endpoint, SEQUENTIAL, "p50_ms")
        if p50 is not None:
            verdict = "PASS" if p50 <= MAX_P50_MS else "MISS"
            found.append((f"{name}: sequential p50 <= {MAX_P50_MS} ms", f"{p50:.2f} ms", verdict))
        ours = _get(out, endpoint, CONCURRENT, "rps")
        p99 = _get(out, endpoint, CONCURRENT, "p99_ms")
        if ours is not None and theirs:
            ratio = ours / theirs
            verdict = "PASS" if ratio >= MIN_RATIO else "MISS"
            target = f"{name}: concurrency 16 >= {MIN_RATIO:.0f}x MLflow req/s"
            found.append((target, f"{ratio:.1f}x", verdict))
        if p99 is not None:
            verdict = "PASS" if p99 < MAX_P99_MS else "MISS"
            found.append(
                (f"{name}: concurrency 16 p99 < {MAX_P99_MS:.0f} ms", f"{p99:.1f} ms", verdict)
            )
    return found


def ratios(out: Samples) -> list[tuple[str, str]]:
    """lockstep req/s over MLflow's, and MLflow's p50 over lockstep's, per load."""
    found = []
    for load in LOADS:
        mlflow_rps = _get(out, MLFLOW_INV, load, "rps")
        mlflow_p50 = _get(out, MLFLOW_INV, load, "p50_ms")
        for endpoint in (LOCKSTEP_INV, LOCKSTEP_OIP):
            rps, p50 = _get(out, endpoint, load, "rps"), _get(out, endpoint, load, "p50_ms")
            if rps and p50 and mlflow_rps and mlflow_p50:
                found.append(
                    (
                        f"{endpoint.split(' ', 1)[1]}, {load}",
                        f"{rps / mlflow_rps:.1f}x throughput, {mlflow_p50 / p50:.1f}x lower p50",
                    )
                )
    return found


HEADERS = (
    "endpoint",
    "seq p50 ms",
    "seq p99 ms",
    "seq req/s",
    "c16 p50 ms",
    "c16 p99 ms",
    "c16 req/s",
)


def _cells(out: Samples) -> list[list[str]]:
    lines = []
    for endpoint in ENDPOINTS:
        cells = [endpoint]
        for load in LOADS:
            for metric in METRICS:
                value = _get(out, endpoint, load, metric)
                cells.append(
                    "-" if value is None else f"{value:.0f}" if metric == "rps" else f"{value:.2f}"
                )
        lines.append(cells)
    bare = out.times.get(SERVE, {}).get(BARE)
    if bare:
        lines.append([BARE, f"{bare[0]:.3f}"] + ["-"] * (len(HEADERS) - 2))
    return lines


def has_results(out: Samples) -> bool:
    return bool(out.times.get(SERVE))


def missed(out: Samples) -> list[str]:
    return [target for target, _, verdict in verdicts(out) if verdict == "MISS"]


def text_table(out: Samples) -> str:
    def aligned(lines: list[list[str]]) -> list[str]:
        widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
        text = [
            "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
            for line in lines
        ]
        text.insert(1, "  ".join("-" * w for w in widths))
        return text

    parts = aligned([list(HEADERS), *_cells(out)])
    found = ratios(out)
    if found:
        parts += ["", *aligned([["lockstep vs MLflow /invocations", "ratio"], *map(list, found)])]
    judged = verdicts(out)
    if judged:
        parts += ["", *aligned([["target", "measured", "result"], *map(list, judged)])]
    return "\n".join(parts)


def markdown_table(out: Samples) -> str:
    def table(header: list[str], lines: list[list[str]]) -> str:
        rows = [header, ["---"] * len(header), *lines]
        return "\n".join("| " + " | ".join(r) + " |" for r in rows) + "\n"

    parts = [table(list(HEADERS), _cells(out))]
    found = ratios(out)
    if found:
        parts.append(table(["lockstep vs MLflow /invocations", "ratio"], [list(r) for r in found]))
    judged = [[t, m, f"**{v}**"] for t, m, v in verdicts(out)]
    if judged:
        parts.append(table(["target", "measured", "result"], judged))
    return "\n".join(parts)


if __name__ == "__main__":
    if sys.argv[1:2] == ["save-mlflow"]:
        sys.exit(save_mlflow(sys.argv[2], sys.argv[3]))
    sys.exit(f"usage: {sys.argv[0]} save-mlflow PICKLE DIR")
