"""What a server serves: the verified model on local disk, its input signature and the
server's settings. The project layer builds a :class:`ServeSpec`; the server processes
read it back from a JSON file (``LOCKSTEP_SERVE_SPEC``), so ``--workers N`` processes
all serve the same thing. The bearer token is never written here: it travels in the
environment (``LOCKSTEP_SERVE_TOKEN``)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lockstep import fs
from lockstep.errors import FileFormatError

SPEC_ENV = "LOCKSTEP_SERVE_SPEC"
TOKEN_ENV = "LOCKSTEP_SERVE_TOKEN"
FORMAT = "lockstep/serve@1"
# Column types, as MLflow's column specs name them.
TYPES = ("double", "float", "long", "integer", "boolean", "string")


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # one of TYPES

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "type": self.type}


@dataclass(frozen=True)
class Signature:
    """The model's input columns, in the order the model takes them."""

    inputs: tuple[Column, ...]

    def to_list(self) -> list[dict[str, str]]:
        return [c.to_dict() for c in self.inputs]

    @classmethod
    def from_list(cls, value: object, source: str) -> Signature:
        if not isinstance(value, list) or not value:
            raise FileFormatError(source, "inputs", "must be a non-empty list of columns")
        columns = []
        for i, item in enumerate(value):
            where = f"inputs[{i}]"
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise FileFormatError(source, where, "a column is {name: ..., type: ...}")
            if item.get("type") not in TYPES:
                raise FileFormatError(source, f"{where}.type", f"must be one of {', '.join(TYPES)}")
            columns.append(Column(item["name"], item["type"]))
        names = [c.name for c in columns]
        if len(set(names)) != len(names):
            raise FileFormatError(source, "inputs", "column names must be unique")
        return cls(tuple(columns))


@dataclass(frozen=True)
class Batching:
    max_batch_size: int = 32
    max_latency_ms: float = 2.0


@dataclass(frozen=True)
class LogSettings:
    """The inference log: a sample of requests appended to Parquet files."""

    url: str | None = None  # a folder or fsspec URL; None: no inference log
    sample_rate: float = 1.0  # 0..1
    flush_seconds: float = 5.0
    flush_rows: int = 1000


@dataclass(frozen=True)
class ServeSpec:
    name: str  # the model's name, as OIP's /v2/models/{name}
    version: str  # "1.2.0"; "" for an unregistered file
    digest: str  # 64 hex: the model's verified digest
    flavor: str  # skops, joblib, pickle, xgboost, lightgbm, onnx
    path: str  # the model file or folder on local disk (already verified)
    signature: Signature | None = None  # None: taken from the model when it tells
    batching: Batching = field(default_factory=Batching)
    log: LogSettings = field(default_factory=LogSettings)
    unsigned: bool = False  # served under --allow-unsigned without a valid signature

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["signature"] = self.signature.to_list() if self.signature else None
        return {"format": FORMAT, **found}

    def dump(self, path: Path) -> None:
        fs.atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> ServeSpec:
        source = str(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FileFormatError(source, None, f"cannot read: {exc}") from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise FileFormatError(source, "format", f"must be {FORMAT}")
        signature = data.get("signature")
        return cls(
            name=data["name"],
            version=data["version"],
            digest=data["digest"],
            flavor=data["flavor"],
            path=data["path"],
            signature=None if signature is None else Signature.from_list(signature, source),
            batching=Batching(**data.get("batching", {})),
            log=LogSettings(**data.get("log", {})),
            unsigned=bool(data.get("unsigned", False)),
        )
