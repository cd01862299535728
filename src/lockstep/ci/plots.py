"""PNG plots for the report, drawn on matplotlib's Agg canvas.

A :class:`matplotlib.figure.Figure` is made and saved directly: no pyplot, so no
global figure state, no display backend and nothing to close. Two kinds of plot:

- the metrics diff: one horizontal bar pair (base, workspace) per numeric metric;
- a stage's ``plots:`` file, drawn the way DVC draws a plot without a template:
  CSV, TSV, JSON or YAML rows (a list of records, a mapping holding one such list,
  or a mapping of columns). With two or more numeric columns the first is x and the
  others are lines; with one, it is drawn against the row number. The base
  revision's version of the file, when the cache has it, is drawn dashed beside
  the workspace's. Image files (PNG, JPEG, SVG, GIF) are copied, not drawn.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from lockstep import fs

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".svg", ".gif")
TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".yaml", ".yml")
MAX_LINES = 6  # y columns drawn from one plot file
MAX_BARS = 40  # metrics in the metrics chart


@dataclass(frozen=True)
class Bar:
    label: str
    old: float | None
    new: float | None


Columns = dict[str, list[float]]


def metrics_chart(bars: Sequence[Bar], dest: Path, labels: tuple[str, str]) -> bool:
    """One small bar pair (base, workspace) per metric, each on its own scale so a loss
    of 1,000 does not flatten an accuracy of 0.9; False (nothing written) without numbers."""
    bars = [b for b in bars if b.old is not None or b.new is not None][:MAX_BARS]
    if not bars:
        return False
    figure = _figure(7.0, 0.5 + 0.9 * len(bars))
    for axes, bar in zip(figure.subplots(len(bars), 1, squeeze=False)[:, 0], bars, strict=True):
        values = [math.nan if v is None else v for v in (bar.old, bar.new)]
        axes.barh([1, 0], values, height=0.7, color=["#9aa5b1", "#1f77b4"])
        axes.set_yticks([1, 0], [labels[0], labels[1]], fontsize="small")
        axes.axvline(0, color="#444444", linewidth=0.6)
        axes.set_title(bar.label, loc="left", fontsize="medium")
        for row, value in zip([1, 0], values, strict=True):
            if not math.isnan(value):
                axes.annotate(
                    f"{value:.4g}",
                    (value, row),
                    xytext=(3, 0),
                    va="center",
                    textcoords="offset points",
                    fontsize="small",
                )
        axes.margins(x=0.15)
    _save(figure, dest)
    return True


def plot_file(
    new: bytes | None,
    old: bytes | None,
    *,
    suffix: str,
    title: str,
    dest: Path,
    labels: Sequence[str],
) -> str | None:
    """Draw a stage's plot file to ``dest`` (PNG); a reason when it cannot be drawn."""
    suffix = suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        return f"not drawn: {suffix or 'no suffix'} is not a table format"
    if new is None:
        return "not drawn: missing from the workspace (run the pipeline)"
    columns = table(new, suffix)
    if not columns:
        return "not drawn: no numeric columns"
    before = table(old, suffix) if old is not None else None
    figure = _figure(7.0, 4.2)
    axes = figure.subplots()
    x_name, ys = _layout(columns)
    _lines(axes, columns, x_name, ys, side=labels[1], style="-")
    if before:
        _lines(axes, before, x_name, ys, side=labels[0], style="--")
    axes.set_title(title)
    axes.set_xlabel(x_name or "row")
    axes.grid(True, linewidth=0.3)
    axes.legend(loc="best", fontsize="small")
    _save(figure, dest)
    return None


def copy_image(data: bytes, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fs.atomic_write_bytes(dest, data)


# --- reading plot files ----------------------------------------------------------------------


def table(data: bytes, suffix: str) -> Columns | None:
    """The numeric columns of a plot file, in file order; None when it cannot be read."""
    try:
        text = data.decode("utf-8-sig")
        if suffix in (".csv", ".tsv"):
            reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
            records: Any = list(reader)
        elif suffix == ".json":
            records = json.loads(text)
        else:
            records = yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError, csv.Error):
        return None
    return _numeric(_rows(records))


def _rows(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1 and all(isinstance(r, dict) for r in lists[0]):
            return list(lists[0])  # DVC's {"roc": [{"fpr": ..., "tpr": ...}, ...]}
        if lists and len(lists) == len(data):  # columns: {"x": [...], "y": [...]}
            size = min(len(v) for v in lists)
            return [{k: v[i] for k, v in data.items()} for i in range(size)]
        return []
    if isinstance(data, list):
        return [r for r in data if isinstance(r, dict)]
    return []


def _numeric(rows: list[dict[str, Any]]) -> Columns | None:
    if not rows:
        return None
    columns: Columns = {}
    for name in rows[0]:
        values = [_float(r.get(name)) for r in rows]
        if all(v is not None for v in values):
            columns[str(name)] = [v for v in values if v is not None]
    return columns or None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- drawing -----------------------------------------------------------------------------------


def _layout(columns: Columns) -> tuple[str | None, list[str]]:
    names = list(columns)
    if len(names) == 1:
        return None, names
    return names[0], names[1 : 1 + MAX_LINES]


def _lines(
    axes: Axes, columns: Columns, x_name: str | None, ys: list[str], *, side: str, style: str
) -> None:
    for index, name in enumerate(ys):
        if name not in columns:
            continue  # the base's file lacks this column
        values = columns[name]
        xs = columns[x_name] if x_name and x_name in columns else list(range(len(values)))
        size = min(len(xs), len(values))
        marker = "o" if size <= 30 else None
        axes.plot(
            xs[:size],
            values[:size],
            linestyle=style,
            marker=marker,
            color=f"C{index}",
            label=f"{name} ({side})",
        )


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, min(height, 20.0)), dpi=100, layout="constrained")


def _save(figure: Figure, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    fs.atomic_write_bytes(dest, buffer.getvalue())
