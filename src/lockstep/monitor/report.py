"""A drift result as a report: one self-contained HTML page, or Markdown with PNGs.

:func:`write_report` picks the format by the path's suffix:

- ``.html``: one page and nothing else. Each feature's histogram (reference against
  current, as shares of their rows) is a PNG embedded as a ``data:`` URI; the page
  has its styles inline and no scripts, fonts or links to anywhere, so it can be
  mailed, attached to a CI run or opened offline. Rendered by Jinja2 with
  autoescaping on: a column named ``<script>`` shows as text.
- ``.md``: the same content in Markdown, each PNG written to ``<stem>_files/`` beside
  it and linked relatively (the report and that folder move together). PNGs a
  previous report left in that folder and this one did not write are removed.

Both start with the verdict, then the details given in ``meta`` (model,
environment, window, ...), the sources, the statistics table (:func:`render_table`,
which the CLI can print as well), the thresholds, and one section per feature.

Plots are drawn on a :class:`matplotlib.figure.Figure` with the Agg canvas, without
pyplot: no display backend is chosen for the host process, no figure is left open
in a global registry, and nothing needs closing. The PNGs carry no metadata.
Every file is written atomically (temp file and rename).
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from lockstep import fs
from lockstep.errors import InputError
from lockstep.monitor.drift import DriftResult, FeatureDrift, format_pvalue
from lockstep.monitor.stats import Histogram

if TYPE_CHECKING:
    from matplotlib.axes import Axes

TABLE_HEADERS = (
    "feature",
    "kind",
    "rows (reference / current)",
    "test",
    "p-value",
    "effect sizes",
    "missing (reference -> current)",
    "verdict",
)
REFERENCE_COLOR = "#8c9bab"
CURRENT_COLOR = "#e8743b"
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<|])")
_IMAGE = re.compile(r"^\d{2,}-.*\.png$")
_LABEL_CHARS = 24


@dataclass(frozen=True)
class Section:
    """One feature as the templates show it."""

    feature: FeatureDrift
    row: tuple[str, ...]
    image: str | None  # a data: URI (HTML) or a relative link (Markdown)


def write_report(
    result: DriftResult, path: Path, *, title: str, meta: Mapping[str, str]
) -> list[Path]:
    """Write the report (``.html`` or ``.md``); return the files written."""
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".md"):
        raise InputError(f"report {path}: use a .html or .md file name")
    if suffix == ".md":
        return _write_markdown(result, path, title, meta)
    images = [_data_uri(png) if png else None for png in _plots(result)]
    text = _render("drift.html.j2", result, images, title=title, meta=meta)
    fs.atomic_write_text(path, text)
    return [path]


def render_table(result: DriftResult) -> list[tuple[str, ...]]:
    """One row of plain strings per feature, in the order of :data:`TABLE_HEADERS`."""
    return [_row(feature) for feature in result.features]


def _row(feature: FeatureDrift) -> tuple[str, ...]:
    test, pvalue, effects = _summary(feature)
    rows = f"{feature.n_reference:,} / {feature.n_current:,}"
    missing = f"{feature.missing_reference:.1%} -> {feature.missing_current:.1%}"
    verdict = "drift" if feature.drifted else "ok"
    return (feature.name, feature.kind, rows, test, pvalue, effects, missing, verdict)


def _summary(feature: FeatureDrift) -> tuple[str, str, str]:
    """(test, p-value, effect sizes) as text; dashes when a side has no values."""
    found = feature.statistics
    if found.get("ks_statistic") is not None:
        effects = f"PSI {found['psi']:.3f}, Wasserstein {found['wasserstein_normalised']:.3f} std"
        return f"KS D {found['ks_statistic']:.3f}", _p(found["ks_pvalue"]), effects
    if found.get("chi2_statistic") is not None:
        test = f"chi2 {found['chi2_statistic']:.4g} (dof {found['chi2_dof']})"
        return test, _p(found["chi2_pvalue"]), f"JS {found['js_distance']:.3f}"
    return "-", "-", "-"


def _p(value: float | int | None) -> str:
    return "-" if value is None else format_pvalue(float(value))


# --- rendering ----------------------------------------------------------------------------


def _render(
    template: str,
    result: DriftResult,
    images: list[str | None],
    *,
    title: str,
    meta: Mapping[str, str],
) -> str:
    import jinja2

    environment = jinja2.Environment(
        autoescape=template.endswith(".html.j2"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["md"] = _markdown_escape
    environment.filters["number"] = _number
    text = (
        resources.files("lockstep.monitor")
        .joinpath("templates")
        .joinpath(template)
        .read_text("utf-8")
    )
    sections = [
        Section(feature, _row(feature), image)
        for feature, image in zip(result.features, images, strict=True)
    ]
    return environment.from_string(text).render(
        title=title,
        meta=dict(meta),
        result=result,
        headers=TABLE_HEADERS,
        sections=sections,
        limits=result.thresholds.to_dict(),
    )


def _number(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.4g}"


def _markdown_escape(value: object) -> str:
    text = " ".join(str(value).split())
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _write_markdown(
    result: DriftResult, path: Path, title: str, meta: Mapping[str, str]
) -> list[Path]:
    folder = path.with_name(f"{path.stem}_files")
    written: list[Path] = []
    links: list[str | None] = []
    for index, (feature, png) in enumerate(zip(result.features, _plots(result), strict=True)):
        if png is None:
            links.append(None)
            continue
        image = folder / f"{index + 1:02d}-{_slug(feature.name)}.png"
        fs.atomic_write_bytes(image, png)
        written.append(image)
        links.append(quote(f"{folder.name}/{image.name}"))
    _remove_stale(folder, written)
    fs.atomic_write_text(path, _render("drift.md.j2", result, links, title=title, meta=meta))
    return [path, *written]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:60] or "feature"


def _remove_stale(folder: Path, kept: list[Path]) -> None:
    if not folder.is_dir():
        return
    for old in folder.iterdir():
        if _IMAGE.match(old.name) and old not in kept:
            old.unlink(missing_ok=True)


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


# --- plots --------------------------------------------------------------------------------


def _plots(result: DriftResult) -> list[bytes | None]:
    return [_plot(f) if f.histogram is not None else None for f in result.features]


def _plot(feature: FeatureDrift) -> bytes:
    """The feature's histogram, reference against current, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    histogram = feature.histogram
    assert histogram is not None
    figure = Figure(figsize=(6.0, 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if histogram.categories:
        _bars(axes, histogram)
    else:
        _steps(axes, histogram)
    verdict = "drift" if feature.drifted else "no drift"
    axes.set_title(
        f"{_plain(feature.name)}: {verdict}",
        fontsize="medium",
        color="#b42318" if feature.drifted else "#1d2939",
    )
    axes.set_ylabel("share of rows", fontsize="small")
    axes.tick_params(labelsize="x-small")
    axes.legend(fontsize="x-small", frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _steps(axes: Axes, histogram: Histogram) -> None:
    for counts, label, color, filled in (
        (histogram.reference, "reference", REFERENCE_COLOR, True),
        (histogram.current, "current", CURRENT_COLOR, False),
    ):
        shares = _shares(counts)
        axes.stairs(
            shares,
            histogram.edges,
            label=label,
            color=color,
            fill=filled,
            alpha=0.6 if filled else 1.0,
        )


def _bars(axes: Axes, histogram: Histogram) -> None:
    positions = list(range(len(histogram.categories)))
    width = 0.4
    ref, cur = _shares(histogram.reference), _shares(histogram.current)
    axes.bar(
        [p - width / 2 for p in positions], ref, width, label="reference", color=REFERENCE_COLOR
    )
    axes.bar([p + width / 2 for p in positions], cur, width, label="current", color=CURRENT_COLOR)
    labels = [_plain(_short(c)) for c in histogram.categories]
    axes.set_xticks(positions, labels, rotation=30 if len(labels) > 5 else 0, ha="right")


def _shares(counts: tuple[int, ...]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _short(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "…"


def _plain(text: str) -> str:
    """Text that matplotlib shows as is (a ``$`` would start mathtext)."""
    return text.replace("$", r"\$")
