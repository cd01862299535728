"""The run cache: for each fingerprint ever run, what it produced.

One small JSON file per fingerprint, ``.lockstep/runcache/<2 hex>/<62 hex>.json``
(the fingerprint's first two hex digits, then the rest; format
``lockstep/runcache@1``)::

    {"format": "lockstep/runcache@1", "stage": "train", "cmd": "python train.py",
     "outs": [{"path": ..., "kind": ..., "digest": "sha256:...", "size": ..., "files": ...}],
     "metrics": {"acc": 0.93}, "run": "<run id>"}

The outputs' bytes are ordinary cache objects; an entry whose objects were
garbage-collected is not restorable and the stage simply runs again.
"""

from __future__ import annotations

import json
from pathlib import Path

from lockstep import fs
from lockstep.errors import FileFormatError
from lockstep.pipeline.lockfile import LockedStage

FORMAT = "lockstep/runcache@1"


class RunCache:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, fingerprint: str) -> Path:
        return self.folder / fingerprint[:2] / f"{fingerprint[2:]}.json"

    def get(self, fingerprint: str) -> LockedStage | None:
        path = self._path(fingerprint)
        try:
            body = json.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # unreadable entries are a cache miss, never an error
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            return None
        try:
            return LockedStage.from_dict(str(body.get("stage")), body, str(path))
        except FileFormatError:
            return None

    def put(self, entry: LockedStage) -> None:
        body = {"format": FORMAT, "stage": entry.name, **entry.to_dict()}
        path = self._path(entry.fingerprint)
        path.parent.mkdir(parents=True, exist_ok=True)
        fs.atomic_write_text(path, json.dumps(body, sort_keys=True, indent=1) + "\n")
