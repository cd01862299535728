"""Turn samples into the results table, judged against the targets of issue 2."""

from __future__ import annotations

from dataclasses import dataclass

from cases import CP, CP_TREE, LARGE, OPENSSL, PUSH, SMALL, STATUS, Samples, Settings

# figures quoted in issue 2 ("Speed"), measured on this kind of machine
ISSUE_FIGURES = {LARGE: 4.4, SMALL: 13.7, STATUS: 1.4, PUSH: 13.0, OPENSSL: 0.78, CP: 2.6}
FULL_LARGE = 1 << 30
FULL_SMALL = 20_000
MAX_VS_OPENSSL = 1.5
MIN_VS_DVC = 5.0


@dataclass
class Row:
    case: str
    label: str
    lockstep: float | None
    dvc: float | None
    issue: float | None
    target: str
    measured: str
    verdict: str

    @property
    def speedup(self) -> float | None:
        if self.lockstep and self.dvc:
            return self.dvc / self.lockstep
        return None

    @property
    def issue_speedup(self) -> float | None:
        if self.lockstep and self.issue:
            return self.issue / self.lockstep
        return None


def _size(size: int) -> str:
    return f"{size >> 30} GiB" if size % (1 << 30) == 0 else f"{size >> 20} MiB"


def labels(settings: Settings) -> dict[str, str]:
    n = f"{settings.small_count:,}"
    return {
        LARGE: f"add a {_size(settings.large_size)} file",
        SMALL: f"add {n} small files",
        STATUS: f"no-op status ({n} files)",
        PUSH: f"push {n} files to a local remote",
        OPENSSL: f"openssl dgst -sha256, {_size(settings.large_size)}",
        CP: f"cp, {_size(settings.large_size)}",
        CP_TREE: f"cp -R of the {n} small files",
    }


def rows(samples: Samples, settings: Settings) -> list[Row]:
    full = settings.large_size == FULL_LARGE and settings.small_count == FULL_SMALL
    names = labels(settings)
    out = []
    for case in (LARGE, SMALL, STATUS, PUSH):
        lockstep = samples.best(case, "lockstep")
        dvc = samples.best(case, "dvc")
        if lockstep is None and dvc is None:
            continue
        issue = ISSUE_FIGURES[case] if full else None
        if case == LARGE:
            target, measured, verdict = _vs_openssl(lockstep, samples.best(LARGE, OPENSSL))
        else:
            target, measured, verdict = _vs_dvc(lockstep, dvc)
        out.append(Row(case, names[case], lockstep, dvc, issue, target, measured, verdict))
    return out


def _vs_openssl(lockstep: float | None, openssl: float | None) -> tuple[str, str, str]:
    target = f"<= {MAX_VS_OPENSSL}x openssl"
    if not lockstep or not openssl:
        return target, "n/a", "n/a"
    ratio = lockstep / openssl
    return target, f"{ratio:.2f}x openssl", "PASS" if ratio <= MAX_VS_OPENSSL else "FAIL"


def _vs_dvc(lockstep: float | None, dvc: float | None) -> tuple[str, str, str]:
    target = f">= {MIN_VS_DVC:.0f}x faster than DVC"
    if not lockstep or not dvc:
        return target, "n/a", "n/a"
    ratio = dvc / lockstep
    return target, f"{ratio:.1f}x faster", "PASS" if ratio >= MIN_VS_DVC else "FAIL"


def references(
    samples: Samples, settings: Settings
) -> list[tuple[str, float | None, float | None]]:
    """Reference commands: (label, best seconds, figure in the issue)."""
    full_large = settings.large_size == FULL_LARGE
    names = labels(settings)
    out = []
    for case, ref in ((LARGE, OPENSSL), (LARGE, CP), (SMALL, CP_TREE)):
        best = samples.best(case, ref)
        if best is not None:
            issue = ISSUE_FIGURES.get(ref) if full_large and case == LARGE else None
            out.append((names[ref], best, issue))
    return out


def _s(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


HEADERS = (
    "case",
    "lockstep s",
    "DVC s",
    "DVC/lockstep",
    "DVC in issue s",
    "issue/lockstep",
    "target",
    "measured",
    "result",
)


def _cells(row: Row) -> list[str]:
    return [
        row.label,
        _s(row.lockstep),
        _s(row.dvc),
        _x(row.speedup),
        _s(row.issue, 1),
        _x(row.issue_speedup),
        row.target,
        row.measured,
        row.verdict,
    ]


def text_table(table: list[Row], refs: list[tuple[str, float | None, float | None]]) -> str:
    lines = [list(HEADERS), *(_cells(r) for r in table)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADERS))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    if refs:
        out.append("")
        out.extend(f"reference: {name:<34} {_s(t)} s  (issue: {_s(i)} s)" for name, t, i in refs)
    return "\n".join(out)


def markdown_table(table: list[Row], refs: list[tuple[str, float | None, float | None]]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in table:
        cells = _cells(row)
        cells[-1] = f"**{cells[-1]}**"
        out.append("| " + " | ".join(cells) + " |")
    if refs:
        out += ["", "| reference | seconds | in issue |", "|---|---|---|"]
        out += [f"| {name} | {_s(t)} | {_s(i)} |" for name, t, i in refs]
    return "\n".join(out) + "\n"
