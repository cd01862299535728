"""DSSE v1: the pre-authentication encoding and envelope round trips."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockstep.errors import AttestationFormatError
from lockstep.supplychain import dsse, keys


def test_pae_matches_the_spec_example() -> None:
    # protocol.md of the DSSE specification
    got = dsse.pae("http://example.com/HelloWorld", b"hello world")
    assert got == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"


def test_pae_of_empty_values_and_lengths_in_bytes() -> None:
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "
    assert dsse.pae("t\u00e9", b"\x00\xff") == b"DSSEv1 3 t\xc3\xa9 2 \x00\xff"


def test_envelope_layout() -> None:
    key = keys.generate("k")
    envelope = dsse.sign(b'{"a":1}', key)
    data = json.loads(envelope.to_bytes())
    assert set(data) == {"payloadType", "payload", "signatures"}
    assert data["payloadType"] == "application/vnd.in-toto+json"
    assert base64.b64decode(data["payload"]) == b'{"a":1}'
    assert [set(s) for s in data["signatures"]] == [{"keyid", "sig"}]
    assert data["signatures"][0]["keyid"] == key.keyid


@given(payload=st.binary(max_size=512), kind=st.text(max_size=40))
def test_round_trip_and_verify(payload: bytes, kind: str) -> None:
    key = _KEY
    envelope = dsse.sign(payload, key, kind)
    again = dsse.Envelope.from_bytes(envelope.to_bytes(), "test")
    assert again == envelope
    [check] = dsse.verify(again, {key.keyid: key.public})
    assert check.trusted and check.valid


_KEY = keys.generate("prop")


def test_changed_payload_or_type_fails() -> None:
    envelope = dsse.sign(b"payload", _KEY)
    trusted = {_KEY.keyid: _KEY.public}
    other = dsse.Envelope(envelope.payload_type, b"payloaD", envelope.signatures)
    assert not dsse.verify(other, trusted)[0].valid
    retyped = dsse.Envelope("text/plain", envelope.payload, envelope.signatures)
    assert not dsse.verify(retyped, trusted)[0].valid


def test_unknown_key_is_untrusted() -> None:
    envelope = dsse.sign(b"payload", keys.generate("stranger"))
    [check] = dsse.verify(envelope, {_KEY.keyid: _KEY.public})
    assert not check.trusted and not check.valid


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        b'{"payload": "x"}',
        b'{"payloadType": "t", "payload": "***", "signatures": []}',
        b'{"payloadType": "t", "payload": "", "signatures": [{}]}',
    ],
)
def test_malformed_envelopes(data: bytes) -> None:
    with pytest.raises(AttestationFormatError):
        dsse.Envelope.from_bytes(data, "test")
