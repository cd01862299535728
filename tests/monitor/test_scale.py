"""Bounded memory: a drift run over 10 million rows x 20 float features of Parquet (on
each side, in row groups of a million) stays under 1 GiB of resident memory.

The data is written here; the run happens in a child process, itself started by a
small launcher whose only child it is, so the launcher's
``getrusage(RUSAGE_CHILDREN).ru_maxrss`` is the peak of the run alone. About 20 s on
two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROWS = 10_000_000
FEATURES = 20
GROUP = 1_000_000
LIMIT_KIB = 1 << 20  # 1 GiB

RUN = """
import json, sys
from lockstep.monitor.drift import detect
from lockstep.monitor.sources import open_source
result = detect(open_source(sys.argv[1]), open_source(sys.argv[2]))
print(json.dumps({"drifted": [f.name for f in result.drifted_features],
                  "rows": [f.n_current for f in result.features]}))
"""

LAUNCH = """
import json, resource, subprocess, sys
done = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]],
                      capture_output=True, text=True, check=False)
if done.returncode:
    sys.exit(done.stderr)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"peak_kib": peak, **json.loads(done.stdout)}))
"""


def write(path: Path, seed: int, shift: float) -> None:
    """ROWS x FEATURES normal floats: one block of a million rows, drawn once, written
    ten times a little apart (drawing 200 million numbers would dominate the test)."""
    rng = np.random.default_rng(seed)
    block = rng.standard_normal((FEATURES, GROUP))
    block[0] += shift
    schema = pa.schema([(f"x{i}", pa.float64()) for i in range(FEATURES)])
    with pq.ParquetWriter(path, schema, compression="none", use_dictionary=False) as writer:
        for group in range(ROWS // GROUP):
            columns = [pa.array(block[i] + group * 1e-3) for i in range(FEATURES)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


@pytest.mark.timeout(180)
def test_ten_million_rows_by_twenty_features_under_one_gib(tmp_path: Path) -> None:
    reference, current = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    write(reference, seed=1, shift=0.0)
    write(current, seed=2, shift=0.5)
    done = subprocess.run(
        [sys.executable, "-c", LAUNCH, RUN, str(reference), str(current)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["drifted"] == ["x0"]
    assert found["rows"] == [ROWS] * FEATURES
    assert found["peak_kib"] < LIMIT_KIB, f"peak RSS {found['peak_kib'] / 1024:.0f} MiB"
