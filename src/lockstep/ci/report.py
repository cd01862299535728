"""``lockstep report``: a Markdown report for a pull request, with PNG plots beside it.

The input is plain data (:class:`ReportData`, gathered by ``lockstep.project.report``);
this module only renders. Sections, each present whatever the data:

1. what is compared: the base revision and the workspace, with their commits;
2. metrics: every metric of either side, old, new and the change (numbers only);
3. params: the changed params with the same columns, and how many did not change;
4. gates: each model's latest registered version against each environment that has
   gates (pass/fail per gate, with its summary), or why there is no verdict;
5. drift: when a ``monitor drift --json`` file was given, whether it drifted and a
   row per feature;
6. plots: the metrics chart and each stage's ``plots:`` file.

Plots go to ``<stem>_files/`` beside the report and are linked relatively, so the
report and that folder can be moved, uploaded as a CI artifact or committed together.
Table cells are escaped (``|`` and newlines) so a value never breaks a table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from lockstep import fs
from lockstep.ci import plots
from lockstep.ci.drift import DriftSummary
from lockstep.pipeline.compare import Change
from lockstep.registry.gates.base import Verdict

METRICS_IMAGE = "metrics.png"
PLOT_PREFIX = "plot-"
PASS, FAIL = "✅", "❌"


@dataclass(frozen=True)
class Side:
    """One side of the comparison: a revision (``label`` as given) or the workspace."""

    label: str
    commit: str | None = None
    dirty: bool = False

    def describe(self) -> str:
        text = f"`{self.label}`"
        if self.commit:
            text += f" ({self.commit[:10]}"
            text += ", with uncommitted changes)" if self.dirty else ")"
        return text


@dataclass(frozen=True)
class GateResult:
    model: str
    env: str
    version: str | None = None  # NAME@vX.Y.Z checked, or None
    verdicts: tuple[Verdict, ...] = ()
    problem: str | None = None  # why there is no verdict ("not registered", an error)

    @property
    def passed(self) -> bool | None:
        if self.problem is not None:
            return None
        return all(v.passed for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "env": self.env,
            "version": self.version,
            "passed": self.passed,
            "problem": self.problem,
            "gates": [v.to_dict() for v in self.verdicts],
        }


@dataclass(frozen=True)
class PlotSource:
    """A stage's plot file: its bytes in the workspace and at the base revision."""

    stage: str
    path: str
    new: bytes | None
    old: bytes | None = None


@dataclass(frozen=True)
class ReportData:
    base: Side
    head: Side
    metrics: tuple[Change, ...] = ()
    params: tuple[Change, ...] = ()  # the changed ones
    unchanged_params: int = 0
    gates: tuple[GateResult, ...] = ()
    drift: DriftSummary | None = None
    plots: tuple[PlotSource, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "base": {"rev": self.base.label, "commit": self.base.commit},
            "head": {"commit": self.head.commit, "dirty": self.head.dirty},
            "metrics": [c.to_dict() for c in self.metrics],
            "params": [c.to_dict() for c in self.params],
            "unchanged_params": self.unchanged_params,
            "gates": [g.to_dict() for g in self.gates],
            "drift": self.drift.to_dict() if self.drift else None,
        }


@dataclass(frozen=True)
class Image:
    title: str
    file: str | None  # name inside the files folder; None when not drawn
    note: str | None = None


@dataclass(frozen=True)
class Written:
    report: Path
    files: tuple[Path, ...] = ()
    images: tuple[Image, ...] = field(default_factory=tuple)
    data: ReportData | None = None


def write(data: ReportData, out: Path) -> Written:
    """Draw the plots into ``<stem>_files/`` beside ``out``, then write the Markdown."""
    folder = out.parent / f"{out.stem}_files"
    _clear_own(folder)
    images = draw(data, folder)
    text = markdown(data, images, quote(folder.name))
    out.parent.mkdir(parents=True, exist_ok=True)
    fs.atomic_write_text(out, text)
    files = tuple(folder / i.file for i in images if i.file)
    return Written(out, files, tuple(images), data)


def _clear_own(folder: Path) -> None:
    """Remove the images an earlier report wrote there (and nothing else)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        own = path.name == METRICS_IMAGE or path.name.startswith(PLOT_PREFIX)
        if own and path.is_file():
            path.unlink()


# --- plots -----------------------------------------------------------------------------------


def draw(data: ReportData, folder: Path) -> list[Image]:
    labels = (data.base.label, data.head.label)
    images = []
    bars = [_bar(c) for c in data.metrics]
    if plots.metrics_chart([b for b in bars if b is not None], folder / METRICS_IMAGE, labels):
        images.append(Image("Metrics", METRICS_IMAGE))
    taken: set[str] = set()
    for source in data.plots:
        images.append(_draw_plot(source, folder, labels, taken))
    return images


def _bar(change: Change) -> plots.Bar | None:
    old, new = _numeric(change.old), _numeric(change.new)
    if old is None and new is None:
        return None
    return plots.Bar(f"{change.stage}: {change.key}", old, new)


def _numeric(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _draw_plot(source: PlotSource, folder: Path, labels: tuple[str, str], taken: set[str]) -> Image:
    title = f"{source.stage}: {source.path}"
    suffix = PurePosixPath(source.path).suffix.lower()
    image = suffix in plots.IMAGE_SUFFIXES
    name = _file_name(source, ".png" if not image else suffix, taken)
    if image:
        if source.new is None:
            return Image(title, None, "missing from the workspace (run the pipeline)")
        plots.copy_image(source.new, folder / name)
        return Image(title, name)
    problem = plots.plot_file(
        source.new, source.old, suffix=suffix, title=title, dest=folder / name, labels=labels
    )
    return Image(title, None if problem else name, problem)


def _file_name(source: PlotSource, suffix: str, taken: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{source.stage}-{source.path}").strip("-.")
    name, n = f"{PLOT_PREFIX}{stem}{suffix}", 2
    while name in taken:
        name, n = f"{PLOT_PREFIX}{stem}-{n}{suffix}", n + 1
    taken.add(name)
    return name


# --- Markdown ----------------------------------------------------------------------------------


def markdown(data: ReportData, images: Sequence[Image], folder: str) -> str:
    parts = [
        "## lockstep report\n",
        f"{data.base.describe()} → {data.head.describe()}\n",
        _metrics(data, images, folder),
        _params(data),
        _gates(data.gates),
    ]
    if data.drift is not None:
        parts.append(_drift(data.drift))
    parts.append(_plots([i for i in images if i.file != METRICS_IMAGE], folder))
    text = "\n".join(p for p in parts if p)
    return re.sub(r"\n{3,}", "\n\n", text).rstrip("\n") + "\n"


def _metrics(data: ReportData, images: Sequence[Image], folder: str) -> str:
    lines = ["### Metrics\n"]
    if not data.metrics:
        lines.append("No metrics on either side: list metrics files under a stage's `metrics:`.\n")
        return "\n".join(lines)
    lines += _changes_table(data.metrics, "metric")
    if any(i.file == METRICS_IMAGE for i in images):
        lines += ["", f"![Metrics]({folder}/{METRICS_IMAGE})"]
    return "\n".join(lines) + "\n"


def _params(data: ReportData) -> str:
    lines = ["### Params\n"]
    if data.params:
        lines += _changes_table(data.params, "param")
        lines.append("")
    else:
        lines.append("No param changed.\n")
    if data.unchanged_params:
        lines.append(f"{data.unchanged_params} other param(s) unchanged.\n")
    return "\n".join(lines)


def _changes_table(changes: Iterable[Change], noun: str) -> list[str]:
    rows = [_row("stage", noun, "old", "new", "change"), "|---|---|--:|--:|--:|"]
    for c in changes:
        rows.append(_row(c.stage, c.key, _value(c.old), _value(c.new), _delta(c)))
    return rows


def _delta(change: Change) -> str:
    delta = change.delta
    if delta is None:
        return "changed" if change.changed else ""
    if delta == 0:
        return "0"
    return f"**{delta:+.6g}**"


def _gates(results: Sequence[GateResult]) -> str:
    lines = ["### Gates\n"]
    if not results:
        lines.append("No environment in lockstep.yaml has gates (or no model is declared).\n")
        return "\n".join(lines)
    lines.append(
        "Each environment's gates on the latest registered version of each model, as "
        "`lockstep check` runs them; nothing was promoted.\n"
    )
    lines += [_row("model", "environment", "version", "result"), "|---|---|---|---|"]
    lines += [_row(r.model, r.env, r.version or "-", _outcome(r)) for r in results]
    details = [line for r in results for line in _verdict_lines(r)]
    return "\n".join([*lines, "", *details]) + "\n"


def _outcome(result: GateResult) -> str:
    if result.problem is not None:
        return result.problem
    failed = [v.gate for v in result.verdicts if not v.passed]
    if not failed:
        return f"{PASS} pass ({len(result.verdicts)} gate(s))"
    return f"{FAIL} fail: {', '.join(failed)}"


def _verdict_lines(result: GateResult) -> list[str]:
    if not result.verdicts:
        return []
    lines = [f"**{_inline(result.version or result.model)} → {_inline(result.env)}**\n"]
    for v in result.verdicts:
        lines.append(f"- {PASS if v.passed else FAIL} `{v.gate}`: {_inline(v.summary)}")
    return [*lines, ""]


def _drift(drift: DriftSummary) -> str:
    lines = ["### Drift\n", _drift_headline(drift) + "\n"]
    if drift.missing_columns:
        shown = ", ".join(f"`{_inline(c)}`" for c in drift.missing_columns)
        lines.append(f"Columns of the reference data missing from the current data: {shown}.\n")
    if drift.features:
        lines += [
            _row("feature", "kind", "drifted", "reasons", "statistics"),
            "|---|---|---|---|---|",
        ]
        lines += [
            _row(
                f.name,
                f.kind or "-",
                "-" if f.drifted is None else ("**yes**" if f.drifted else "no"),
                "; ".join(f.reasons) or "-",
                _statistics(f.statistics),
            )
            for f in _drifted_first(drift)
        ]
    return "\n".join(lines) + "\n"


def _drift_headline(drift: DriftSummary) -> str:
    parts = [drift.model, f"in {drift.env}" if drift.env else None]
    subject = " ".join(p for p in parts if p)
    of = f" of {subject}" if subject else ""
    source = f" (`{_inline(drift.source)}`)"
    if drift.drifted is None:
        return f"Drift{of}: the file gives no verdict{source}."
    if not drift.drifted:
        return f"{PASS} No drift{of}{source}."
    names = ", ".join(f"`{_inline(f.name)}`" for f in drift.drifted_features)
    counted = f" in {len(drift.drifted_features)} of {len(drift.features)} feature(s): {names}"
    if not drift.drifted_features:
        counted = ""
    return f"{FAIL} **Drift detected**{of}{counted}{source}."


def _drifted_first(drift: DriftSummary) -> list[Any]:
    return sorted(drift.features, key=lambda f: not f.drifted)


def _statistics(stats: Any) -> str:
    return ", ".join(f"{k} {_value(v)}" for k, v in list(stats.items())[:4]) or "-"


def _plots(images: Sequence[Image], folder: str) -> str:
    if not images:
        return ""
    lines = ["### Plots\n"]
    for image in images:
        lines.append(f"**{_inline(image.title)}**\n")
        if image.file:
            lines.append(f"![{_inline(image.title)}]({folder}/{quote(image.file)})\n")
        else:
            lines.append(f"{_inline(image.note or 'not drawn')}\n")
    return "\n".join(lines)


# --- cells ---------------------------------------------------------------------------------------


def _row(*cells: str) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def _inline(text: str) -> str:
    return text.replace("\n", " ")


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)
