"""The ML-BOM of a model version: CycloneDX 1.6 JSON, built with cyclonedx-python-lib.

::

    {"bomFormat": "CycloneDX", "specVersion": "1.6", "serialNumber": "urn:uuid:...",
     "metadata": {"timestamp": "<registration time>", "tools": ...},
     "components": [
       {"type": "machine-learning-model", "bom-ref": "model:churn@1.2.0", "name": "churn",
        "version": "1.2.0", "hashes": [{"alg": "SHA-256", "content": "<hex>"}],
        "modelCard": {"modelParameters": {"datasets": [{"ref": "data:data/train.csv"}]},
                      "quantitativeAnalysis": {"performanceMetrics":
                          [{"type": "f1", "value": "0.8"}]},
                      "considerations": {"useCases": ["..."]}}},
       {"type": "data", "bom-ref": "data:data/train.csv", "name": "data/train.csv",
        "hashes": [...], "properties": [{"name": "lockstep:role", "value": "training"}]},
       {"type": "library", "bom-ref": "pkg:pypi/numpy@2.1.0", "name": "numpy", ...}],
     "dependencies": [{"ref": "model:churn@1.2.0", "dependsOn": [...]}]}

The library has no model card type yet, so the card is added to the serialized
JSON; the schema check in the tests covers the whole document. The serial number
and the timestamp come from the version, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

SPEC_VERSION = "1.6"


@dataclass(frozen=True)
class ModelFacts:
    """What the BOM says of a model version."""

    name: str
    version: str
    digest: str  # sha256:<hex>
    flavor: str | None = None
    registered: str | None = None  # ISO 8601
    metrics: Mapping[str, Any] = field(default_factory=dict)
    description: str | None = None
    intended_use: str | None = None
    training: Mapping[str, str] = field(default_factory=dict)  # path -> sha256:<hex>
    evaluation: Mapping[str, str] = field(default_factory=dict)
    packages: Mapping[str, str] = field(default_factory=dict)  # name -> version

    @property
    def ref(self) -> str:
        return f"model:{self.name}@{self.version}"


def _sha256(digest: str) -> list[HashType]:
    return [HashType(alg=HashAlgorithm.SHA_256, content=digest.removeprefix("sha256:"))]


def _model(facts: ModelFacts) -> Component:
    properties = [Property(name="lockstep:flavor", value=facts.flavor)] if facts.flavor else []
    return Component(
        name=facts.name,
        version=facts.version,
        type=ComponentType.MACHINE_LEARNING_MODEL,
        bom_ref=facts.ref,
        hashes=_sha256(facts.digest),
        description=facts.description,
        properties=properties,
    )


def _data(facts: ModelFacts) -> list[Component]:
    roles = {path: "training" for path in facts.training}
    roles.update({p: "evaluation" for p in facts.evaluation if p not in roles})
    digests = {**facts.evaluation, **facts.training}
    return [
        Component(
            name=path,
            type=ComponentType.DATA,
            bom_ref=f"data:{path}",
            hashes=_sha256(digests[path]),
            properties=[Property(name="lockstep:role", value=roles[path])],
        )
        for path in sorted(roles)
    ]


def _libraries(facts: ModelFacts) -> list[Component]:
    found = []
    for name, version in sorted(facts.packages.items()):
        purl = PackageURL(type="pypi", name=name, version=version)
        found.append(Component(name=name, version=version, purl=purl, bom_ref=purl.to_string()))
    return found


def model_card(facts: ModelFacts) -> dict[str, Any]:
    card: dict[str, Any] = {}
    datasets = [{"ref": f"data:{path}"} for path in sorted({*facts.training, *facts.evaluation})]
    if datasets:
        card["modelParameters"] = {"datasets": datasets}
    metrics = [
        {"type": str(key), "value": str(value)}
        for key, value in sorted(facts.metrics.items())
        if value is not None
    ]
    if metrics:
        card["quantitativeAnalysis"] = {"performanceMetrics": metrics}
    if facts.intended_use or facts.description:
        card["considerations"] = {"useCases": [facts.intended_use or str(facts.description)]}
    return card


def bom(facts: ModelFacts) -> dict[str, Any]:
    """The CycloneDX 1.6 document, as a JSON object."""
    document = Bom(serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"{facts.ref}#{facts.digest}"))
    if facts.registered:
        document.metadata.timestamp = datetime.fromisoformat(facts.registered)
    model = _model(facts)
    data, libraries = _data(facts), _libraries(facts)
    for component in (model, *data, *libraries):
        document.components.add(component)
    document.register_dependency(model, [*data, *libraries])
    out: dict[str, Any] = json.loads(JsonV1Dot6(document).output_as_string())
    card = model_card(facts)
    if card:
        for component in out.get("components", []):
            if component.get("bom-ref") == facts.ref:
                component["modelCard"] = card
    return out
