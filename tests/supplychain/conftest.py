"""The scan corpus, built once per test session in a temporary folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.supplychain.corpus import Sample, benign, malicious


@dataclass(frozen=True)
class Corpus:
    root: Path
    marker: Path  # every malicious payload would create it
    malicious: list[Sample]
    benign: list[Sample]


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    root = tmp_path_factory.mktemp("scan-corpus")
    marker = root / "PWNED"
    return Corpus(root, marker, malicious(root / "malicious", marker), benign(root / "benign"))
