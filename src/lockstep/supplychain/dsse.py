"""DSSE v1 envelopes (Dead Simple Signing Envelope): sign bytes with their type.

The signature covers the pre-authentication encoding of the payload type and the
payload, never the JSON of the envelope itself::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the byte length in ASCII decimal. The envelope, as stored::

    {"payloadType": "application/vnd.in-toto+json",
     "payload": "<base64 of the statement>",
     "signatures": [{"keyid": "<16 hex>", "sig": "<base64>"}]}
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lockstep.errors import AttestationFormatError

PAYLOAD_TYPE = "application/vnd.in-toto+json"


class Signer(Protocol):
    @property
    def keyid(self) -> str: ...

    def sign(self, data: bytes) -> bytes: ...


class Verifier(Protocol):
    @property
    def keyid(self) -> str: ...

    def verify(self, signature: bytes, data: bytes) -> bool: ...


def pae(payload_type: str, payload: bytes) -> bytes:
    """The bytes a DSSE signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes

    def to_dict(self) -> dict[str, str]:
        return {"keyid": self.keyid, "sig": base64.b64encode(self.sig).decode("ascii")}


@dataclass(frozen=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [s.to_dict() for s in self.signatures],
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str) -> Envelope:
        kind, payload, sigs = data.get("payloadType"), data.get("payload"), data.get("signatures")
        if not isinstance(kind, str) or not isinstance(payload, str):
            raise AttestationFormatError(source, "payloadType", "missing or not a string")
        if not isinstance(sigs, list):
            raise AttestationFormatError(source, "signatures", "must be a list")
        return cls(kind, _b64(payload, source, "payload"), tuple(_sig(s, source) for s in sigs))

    @classmethod
    def from_bytes(cls, data: bytes, source: str) -> Envelope:
        return cls.from_dict(json_object(data, source), source)


def json_object(data: bytes, source: str) -> dict[str, Any]:
    """``data`` parsed as one JSON object; AttestationFormatError names ``source``."""
    try:
        parsed = json.loads(data)
    except ValueError as exc:
        raise AttestationFormatError(source, None, f"not JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise AttestationFormatError(source, None, "not a JSON object")
    return parsed


def is_envelope(data: Mapping[str, Any]) -> bool:
    return "payloadType" in data and "signatures" in data


def _b64(text: str, source: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AttestationFormatError(source, field, "not base64") from exc


def _sig(item: object, source: str) -> Signature:
    if not isinstance(item, dict) or not isinstance(item.get("sig"), str):
        raise AttestationFormatError(source, "signatures", "each needs a 'sig' string")
    keyid = item.get("keyid")
    return Signature(keyid if isinstance(keyid, str) else "", _b64(item["sig"], source, "sig"))


def sign(payload: bytes, signer: Signer, payload_type: str = PAYLOAD_TYPE) -> Envelope:
    signature = Signature(signer.keyid, signer.sign(pae(payload_type, payload)))
    return Envelope(payload_type, payload, (signature,))


@dataclass(frozen=True)
class SignatureCheck:
    """One signature of an envelope: whose key, and whether it verifies."""

    keyid: str
    trusted: bool
    valid: bool

    def to_dict(self) -> dict[str, Any]:
        return {"keyid": self.keyid, "trusted": self.trusted, "valid": self.valid}


def verify(envelope: Envelope, keys: Mapping[str, Verifier]) -> list[SignatureCheck]:
    """Check each signature with the key of its id (a signature by an unknown id is
    untrusted and not valid); an envelope is good when one check is trusted and valid."""
    signed = pae(envelope.payload_type, envelope.payload)
    checks = []
    for signature in envelope.signatures:
        key = keys.get(signature.keyid)
        valid = key is not None and key.verify(signature.sig, signed)
        checks.append(SignatureCheck(signature.keyid, key is not None, valid))
    return checks
