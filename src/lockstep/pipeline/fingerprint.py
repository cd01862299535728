"""A stage's fingerprint: what it runs, on what, with which parameters.

The fingerprint is the sha256 of this canonical JSON (keys sorted, no spaces)::

    {"format": "lockstep/stage@1", "cmd": [...], "deps": [[path, digest], ...],
     "params": {key: value}, "outs": [...], "metrics": [...], "plots": [...]}

Equal fingerprints mean the stage would compute the same outputs, so a
fingerprint seen before is restored from the run cache instead of run.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from lockstep.pipeline.spec import Stage

FORMAT = "lockstep/stage@1"


def fingerprint(stage: Stage, deps: Mapping[str, str], params: Mapping[str, Any]) -> str:
    body = {
        "format": FORMAT,
        "cmd": list(stage.cmd),
        "deps": sorted([path, digest] for path, digest in deps.items()),
        "params": dict(params),
        "outs": sorted(stage.outs),
        "metrics": sorted(stage.metrics),
        "plots": sorted(stage.plots),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
