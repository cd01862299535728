"""``lockstep scan PATH…``: is a model file safe to load? Decided without loading it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json
from lockstep.errors import PathError, UnsafeModelError

if TYPE_CHECKING:
    from lockstep.supplychain.scan import ScanReport

NOT_INSPECTED = "not a model format lockstep inspects"


def scan(
    paths: list[Path] = typer.Argument(
        ..., metavar="PATH...", help="Model files, or folders: every file below them."
    ),
    allow: list[str] = typer.Option(
        [],
        "--allow",
        metavar="MODULE.NAME",
        help="Also allow this global, or every global of this module (repeatable); "
        "adds to [scan] allow of .lockstep/config.toml.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Decide whether model files are safe to load, without loading them.

    Pickle and joblib files (also inside zips such as PyTorch .pt): every
    global they import must be on the allowlist (numpy, scipy.sparse,
    scikit-learn, XGBoost, LightGBM, torch tensors, builtins that build data).
    Zip and tar archives: no member may land outside the folder they are
    extracted to. Keras .keras and .h5: no Lambda layers. ONNX: external data
    stays in the model's folder. Each finding names the file, the byte offset
    or archive member, and why. Files in other formats are listed as not
    inspected. Exit 0 when every file is safe, 1 when any is not.
    """
    from lockstep.supplychain.scan import ScanReport, scan_path

    for path in paths:
        if not path.exists():
            raise PathError(str(path), "does not exist")
    extra = [*_configured_allow(), *allow]
    report = ScanReport.combine(scan_path(path, extra) for path in paths)
    if json_output:
        emit_json(report.to_dict())
    else:
        _print(report)
    if not report.safe:
        raise UnsafeModelError(list(report.unsafe_files))


def _configured_allow() -> tuple[str, ...]:
    """``[scan] allow`` of the workspace around the current folder, if any."""
    from lockstep import config

    here = Path.cwd()
    for folder in (here, *here.parents):
        if (folder / config.PROJECT_FILE).is_file():
            return config.load_config(folder).scan.allow
    return ()


def _print(report: ScanReport) -> None:
    skipped = set(report.skipped)
    for file in report.files:
        findings = report.findings_for(file)
        if findings:
            echo(f"UNSAFE  {file}")
            for finding in findings:
                where = f"{finding.where}: " if finding.where else ""
                echo(f"        {where}{finding.detail}")
        elif file in skipped:
            echo(f"SKIP    {file} ({NOT_INSPECTED})")
        else:
            echo(f"OK      {file}")
    unsafe = len(report.unsafe_files)
    inspected = len(report.files) - len(skipped)
    echo(
        f"{len(report.files)} file(s): {inspected - unsafe} safe, {unsafe} unsafe, "
        f"{len(skipped)} not inspected"
    )


def register(app: typer.Typer) -> None:
    app.command("scan")(scan)
