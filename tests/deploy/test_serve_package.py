"""``lockstep serve oci://…``: a pushed package is pulled, its layers and model digest
checked, its signature too when a key is trusted, before anything loads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import cli, commit_keys
from tests.store.remotes.conftest import OCIRegistry, oci_registry  # noqa: F401

pytestmark = pytest.mark.services


def test_serve_a_pushed_package(model_ws: Path, oci_registry: OCIRegistry) -> None:  # noqa: F811
    target = oci_registry.url("models/churn")
    assert cli("package", "churn@v0.0.1", "--push", target).code == 0
    result = cli("serve", f"{target}:v0.0.1", "--dry", "--json")
    assert result.code == 0, result.err
    found = json.loads(result.out)
    assert (found["model"], found["version"], found["flavor"]) == ("churn", "0.0.1", "skops")
    names = [c["check"] for c in found["checks"]]
    assert "model digest" in names and "layer model.skops" in names
    assert found["signed"] is False

    # once a key is trusted, an unsigned package needs --allow-unsigned, loudly
    assert cli("keygen", "--name", "alice").code == 0
    commit_keys(model_ws)
    refused = cli("serve", f"{target}:v0.0.1", "--dry")
    assert refused.code == 1 and "signature" in refused.err
    allowed = cli("serve", f"{target}:v0.0.1", "--dry", "--allow-unsigned")
    assert allowed.code == 0 and "WARNING" in allowed.err

    # signed and pushed again: it serves signed
    assert cli("sign", "churn@v0.0.1").code == 0
    assert cli("package", "churn@v0.0.1", "--push", f"{target}:signed").code == 0
    signed = cli("serve", f"{target}:signed", "--dry", "--json")
    assert signed.code == 0, signed.err
    assert json.loads(signed.out)["signed"] is True
