"""Pickle and joblib files, read opcode by opcode (``pickletools.genops``): never
with ``pickle.load``, so nothing in them runs.

A file is read twice when it holds joblib array wrappers: once as ``pickle.load``
reads it (joblib's raw array bytes taken as opcodes, which is where a payload
for a careless loader would hide), once as ``joblib.load`` reads it (the raw
bytes skipped, object arrays read as the nested pickles they are). Findings of
both readings are reported. Compressed joblib files (zlib, gzip, bz2, lzma, xz)
are read through a decompressor; lz4 is reported as unreadable.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

from lockstep.supplychain.scan.allowlist import Allowlist
from lockstep.supplychain.scan.machine import Machine
from lockstep.supplychain.scan.report import Finding
from lockstep.supplychain.scan.streams import (
    DECOMPRESSION_ERRORS,
    ByteStream,
    Source,
    UnreadableError,
    decompressed,
)

Opener = Callable[[], AbstractContextManager[Source]]

# a pickle of protocol 2 to 5 starts with PROTO n; 0 and 1 have no header
PICKLE_MAGIC = tuple(bytes([0x80, n]) for n in range(2, 6))
_UNCOMPRESSED = " (as pickle.load would read it: it decompresses nothing)"
_TRAILING = " (in a further pickle after the first one's STOP)"


def scan_pickle(open_source: Opener, file: str, allow: Allowlist, where: str = "") -> list[Finding]:
    """Every finding in the pickle (or joblib file) ``open_source`` opens."""
    findings, saw_wrapper, compressed = _read(open_source, file, allow, where, joblib=False)
    more: list[Finding] = []
    if saw_wrapper:
        more += _read(open_source, file, allow, where, joblib=True)[0]
    if compressed:  # what pickle.load, which decompresses nothing, would make of it
        more += _read(open_source, file, allow, where, joblib=False, raw=True)[0]
    return findings + [f for f in dict.fromkeys(more) if f not in findings]


def _read(
    open_source: Opener,
    file: str,
    allow: Allowlist,
    where: str,
    *,
    joblib: bool,
    raw: bool = False,
) -> tuple[list[Finding], bool, bool]:
    """One reading: (findings, saw a joblib array wrapper, was compressed)."""
    with open_source() as source:
        try:
            stream, compression = (
                (ByteStream(source), "") if raw else decompressed(ByteStream(source))
            )
        except UnreadableError as exc:
            return [Finding(file, where or "offset 0", "unreadable", str(exc))], False, False
        prefix = f"{where}{compression} stream, " if compression else where
        machine = Machine(stream, file, allow, where=prefix, joblib=joblib)
        if raw:
            machine.speculative, machine.note = True, _UNCOMPRESSED
        try:
            machine.load()
            _further_pickles(machine)
        except (UnreadableError, *DECOMPRESSION_ERRORS) as exc:
            if not machine.speculative:
                machine.flag("unreadable", f"{exc}: cannot tell what loading it would run")
        return machine.findings, machine.saw_wrapper, bool(compression)


def _further_pickles(machine: Machine) -> None:
    """What follows the first STOP: a loader that calls ``load`` again reads it
    (legacy torch files do); raw data there is no finding."""
    if not machine.speculative:
        machine.speculative, machine.note = True, _TRAILING
    while not machine.stream.at_end():
        machine.load()


def looks_like_pickle(head: bytes) -> bool:
    return head[:2] in PICKLE_MAGIC
