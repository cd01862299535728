"""``lockstep.lock``: what each stage last ran with and produced (committed to Git).

Layout (YAML, format ``lockstep/lock@1``), stages sorted by name::

    format: lockstep/lock@1
    stages:
      train:
        cmd: python train.py
        fingerprint: sha256:<hex>      # of cmd, deps' digests, params' values, outs
        deps:
        - {path: data/prepared, digest: sha256:<hex>}
        params: {train.n_estimators: 100}
        outs:
        - {path: models/model.skops, kind: file, digest: sha256:<hex>, size: 1234}
        - {path: data/features, kind: dir, digest: sha256:<hex>, size: 99, files: 3}
        metrics: {accuracy: 0.93}      # read from the stage's metrics files
        run: 5f0c...                   # the run that produced the outputs

Each stage's outputs are stored in the cache like added data; ``push``,
``pull``, ``checkout`` and ``gc`` treat them as pointers whose location is
``lockstep.lock``. Updates hold an exclusive ``flock`` only for the
read-modify-write of this file, so independent stages never wait on each other
(see ``locks.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lockstep import fs
from lockstep.errors import FileFormatError
from lockstep.pipeline.locks import exclusive
from lockstep.store.pointer import Pointer
from lockstep.types import format_digest, parse_digest

FILE = "lockstep.lock"
FORMAT = "lockstep/lock@1"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class LockedStage:
    name: str
    cmd: str
    fingerprint: str
    deps: tuple[tuple[str, str], ...] = ()  # (path, digest)
    params: Mapping[str, Any] = field(default_factory=dict)
    outs: tuple[Pointer, ...] = ()
    metrics: Mapping[str, Any] = field(default_factory=dict)
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cmd": self.cmd,
            "fingerprint": format_digest(self.fingerprint),
            "deps": [{"path": p, "digest": format_digest(d)} for p, d in self.deps],
            "params": dict(self.params),
            "outs": [_out_dict(p) for p in self.outs],
            "metrics": dict(self.metrics),
        }
        if self.run_id:
            body["run"] = self.run_id
        return body

    @classmethod
    def from_dict(cls, name: str, body: object, source: str) -> LockedStage:
        where = f"stages.{name}"
        if not isinstance(body, dict):
            raise FileFormatError(source, where, "must be a mapping")
        return cls(
            name=name,
            cmd=_text(body.get("cmd"), source, f"{where}.cmd"),
            fingerprint=_digest(body.get("fingerprint"), source, f"{where}.fingerprint"),
            deps=tuple(
                _dep(d, source, f"{where}.deps[{i}]")
                for i, d in enumerate(_seq(body, "deps", source, where))
            ),
            params=_mapping(body.get("params"), source, f"{where}.params"),
            outs=tuple(
                _out(o, source, f"{where}.outs[{i}]")
                for i, o in enumerate(_seq(body, "outs", source, where))
            ),
            metrics=_mapping(body.get("metrics"), source, f"{where}.metrics"),
            run_id=body.get("run") if isinstance(body.get("run"), str) else None,
        )


def _out_dict(pointer: Pointer) -> dict[str, Any]:
    return {k: v for k, v in pointer.to_dict().items() if k != "format"}


def out_pointer(path: str, kind: str, digest: str, size: int, files: int | None) -> Pointer:
    """A stage output as a pointer located in the lock file."""
    return Pointer(FILE, path, "dir" if kind == "dir" else "file", digest, size, files)


def _seq(body: dict[str, Any], key: str, source: str, where: str) -> list[Any]:
    value = body.get(key) or []
    if not isinstance(value, list):
        raise FileFormatError(source, f"{where}.{key}", "must be a list")
    return value


def _text(value: object, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise FileFormatError(source, where, "must be a string")
    return value


def _digest(value: object, source: str, where: str) -> str:
    digest = parse_digest(value)
    if digest is None:
        raise FileFormatError(source, where, f"must be sha256:<64 hex>, not {value!r}")
    return digest


def _mapping(value: object, source: str, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FileFormatError(source, where, "must be a mapping")
    return value


def _dep(value: object, source: str, where: str) -> tuple[str, str]:
    body = _mapping(value, source, where)
    return _text(body.get("path"), source, f"{where}.path"), _digest(
        body.get("digest"), source, f"{where}.digest"
    )


def _out(value: object, source: str, where: str) -> Pointer:
    body = _mapping(value, source, where)
    kind = body.get("kind")
    if kind not in ("file", "dir"):
        raise FileFormatError(source, f"{where}.kind", "must be file or dir")
    size = body.get("size")
    files = body.get("files")
    if not isinstance(size, int) or (kind == "dir" and not isinstance(files, int)):
        raise FileFormatError(source, where, "size (and files for a dir) must be integers")
    path = _text(body.get("path"), source, f"{where}.path")
    return out_pointer(
        path, kind, _digest(body.get("digest"), source, f"{where}.digest"), size, files
    )


@dataclass(frozen=True)
class LockFile:
    stages: Mapping[str, LockedStage]

    def outs(self) -> list[Pointer]:
        return [out for stage in self.stages.values() for out in stage.outs]

    def dumps(self) -> str:
        body = {
            "format": FORMAT,
            "stages": {name: self.stages[name].to_dict() for name in sorted(self.stages)},
        }
        header = "# Written by 'lockstep run': what each stage ran with and produced. Commit it.\n"
        return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def loads(text: str | bytes, source: str = FILE) -> LockFile:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise FileFormatError(source, None, f"not valid YAML ({exc})") from exc
    if data is None:
        return LockFile({})
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise FileFormatError(source, "format", f"must be {FORMAT}")
    stages = _mapping(data.get("stages"), source, "stages")
    return LockFile({n: LockedStage.from_dict(n, b, source) for n, b in stages.items()})


def read(root: Path) -> LockFile:
    try:
        text = (root / FILE).read_bytes()
    except FileNotFoundError:
        return LockFile({})
    except OSError as exc:
        raise FileFormatError(FILE, None, f"cannot be read ({exc.strerror})") from exc
    return loads(text)


def update(root: Path, entries: Iterable[LockedStage], keep: Iterable[str]) -> LockFile:
    """Replace the entries of the given stages; drop stages not in ``keep`` (those no
    longer in lockstep.yaml). Atomic, and safe against concurrent updates."""
    names = set(keep)
    with exclusive(root):
        current = dict(read(root).stages)
        current.update((e.name, e) for e in entries)
        lock = LockFile({n: s for n, s in current.items() if n in names})
        fs.atomic_write_text(root / FILE, lock.dumps())
    return lock
