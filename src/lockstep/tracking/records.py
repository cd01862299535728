"""The tracking records: what a run is, as values that leave the package.

A :class:`RunRecord` is one execution of the pipeline, a stage or an ad-hoc
script. ``to_dict`` gives it with named keys and UTC ISO times::

    {"id": "3f2a…(32 hex)", "name": "sweep-3", "kind": "adhoc", "parent_id": null,
     "stage": null, "status": "finished", "git_commit": "9c1e…", "dirty": false,
     "user": "ana", "start_time": "2024-05-01T12:00:00.000000Z",
     "end_time": "2024-05-01T12:03:10.250000Z", "params": {"lr": 0.1},
     "metrics": {"acc": 0.91}, "tags": {"team": "churn"},
     "outs": {"model.pkl": "sha256:…"}, "environment": {"python": "3.11.7", …},
     "fingerprint": null, "error": null}

``metrics`` holds the latest value of each key (highest step, then newest);
:class:`MetricPoint` is one logged value, ``timestamp`` in seconds since the epoch.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from lockstep.errors import InputError

KINDS = ("pipeline", "stage", "adhoc")
STATUSES = ("running", "finished", "failed", "restored", "stopped")
_UTC = dt.timezone.utc


def utc_from_timestamp(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, _UTC)


def format_time(moment: dt.datetime) -> str:
    """``2024-05-01T12:00:00.000000Z``: UTC, microseconds, a ``Z``."""
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InputError(f"run kind {kind!r} is not one of {', '.join(KINDS)}")
    return kind


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InputError(f"run status {status!r} is not one of {', '.join(STATUSES)}")
    return status


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One logged metric value: ``step`` orders a series, ``timestamp`` is epoch seconds."""

    key: str
    value: float
    step: int
    timestamp: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "step": self.step,
            "timestamp": self.timestamp,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MetricPoint:
        return cls(
            key=str(data["key"]),
            value=float(data["value"]),
            step=int(data["step"]),
            timestamp=float(data["timestamp"]),
        )


@dataclass(frozen=True)
class RunRecord:
    """One run as stored. Times are aware UTC datetimes; ``end_time`` is None while running."""

    id: str
    kind: str
    status: str
    start_time: dt.datetime
    name: str | None = None
    parent_id: str | None = None
    stage: str | None = None
    git_commit: str | None = None
    dirty: bool | None = None
    user: str | None = None
    end_time: dt.datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    outs: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    fingerprint: str | None = None
    error: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None while the run is still going."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()

    @property
    def label(self) -> str:
        """What a listing shows for the run: its name, else its stage, else its kind."""
        return self.name or self.stage or self.kind

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "parent_id": self.parent_id,
            "stage": self.stage,
            "status": self.status,
            "git_commit": self.git_commit,
            "dirty": self.dirty,
            "user": self.user,
            "start_time": format_time(self.start_time),
            "end_time": None if self.end_time is None else format_time(self.end_time),
            "params": dict(self.params),
            "metrics": dict(self.metrics),
            "tags": dict(self.tags),
            "outs": dict(self.outs),
            "environment": dict(self.environment),
            "fingerprint": self.fingerprint,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        end = data.get("end_time")
        return cls(
            id=str(data["id"]),
            name=data.get("name"),
            kind=check_kind(data["kind"]),
            parent_id=data.get("parent_id"),
            stage=data.get("stage"),
            status=check_status(data["status"]),
            git_commit=data.get("git_commit"),
            dirty=data.get("dirty"),
            user=data.get("user"),
            start_time=parse_time(data["start_time"]),
            end_time=None if end is None else parse_time(end),
            params=dict(data.get("params") or {}),
            metrics={k: float(v) for k, v in (data.get("metrics") or {}).items()},
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()},
            outs=dict(data.get("outs") or {}),
            environment=dict(data.get("environment") or {}),
            fingerprint=data.get("fingerprint"),
            error=data.get("error"),
        )
