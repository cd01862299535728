"""Tag names of the registry, as GTO writes and reads them, and semantic versions.

::

    churn@v1.2.0              a version: annotated tag on the commit that holds it
    churn@v1.2.0!             GTO's deregistration of that version
    churn#production#3        an assignment to production: annotated tag on the
                              version's commit; N is one above the model's highest N
                              in any environment, and each assignment is dated after
                              the one before (GTO orders them by date)
    churn#production!#4       GTO's unassignment of the version on that commit
    approval/churn/v1.2.0/production/<12 hex>
                              one identity's approval (no '@' or '#': GTO ignores it)

Only annotated tags count, as in GTO.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lockstep.errors import InputError

SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9-/_]*[a-zA-Z0-9])?"  # GTO's artifact and stage names
_VERSION_TAG = re.compile(
    rf"(?P<model>{NAME})@v(?P<version>\d+\.\d+\.\d+)(?P<cancel>!?)(?:#(?P<n>\d+))?"
)
_ASSIGN_TAG = re.compile(rf"(?P<model>{NAME})#(?P<env>{NAME})(?P<cancel>!?)(?:#(?P<n>\d+))?")
_APPROVAL_TAG = re.compile(
    rf"approval/(?P<model>{NAME})/v(?P<version>\d+\.\d+\.\d+)/(?P<env>{NAME})/[0-9a-f]{{12}}"
)
_EMAIL = re.compile(r"<([^>]*)>\s*$")


@dataclass(frozen=True, order=True)
class SemVer:
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, text: str) -> SemVer:
        match = SEMVER.fullmatch(text.removeprefix("v"))
        if match is None:
            raise InputError(f"version {text!r} is not X.Y.Z (semantic versioning)")
        return cls(*(int(part) for part in match.groups()))

    def bump_patch(self) -> SemVer:
        return SemVer(self.major, self.minor, self.patch + 1)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class TagName:
    """What a registry tag's name says."""

    kind: str  # version | assignment | approval
    model: str
    version: SemVer | None = None
    env: str | None = None
    number: int = 0
    cancel: bool = False


def version_tag(model: str, version: SemVer) -> str:
    return f"{model}@v{version}"


def assignment_tag(model: str, env: str, number: int) -> str:
    return f"{model}#{env}#{number}"


def approver_key(actor: str) -> str:
    """Who an identity is: its e-mail address, lower-cased (else the whole text)."""
    match = _EMAIL.search(actor)
    return (match.group(1) if match else actor).strip().lower()


def approval_tag(model: str, version: SemVer, env: str, actor: str) -> str:
    who = hashlib.sha256(approver_key(actor).encode("utf-8")).hexdigest()[:12]
    return f"approval/{model}/v{version}/{env}/{who}"


def parse(name: str) -> TagName | None:
    """A registry tag's meaning, or None for any other tag."""
    found = _VERSION_TAG.fullmatch(name)
    if found:
        version = SemVer.parse(found["version"])
        number = int(found["n"] or 0)
        return TagName("version", found["model"], version, None, number, bool(found["cancel"]))
    found = _ASSIGN_TAG.fullmatch(name)
    if found:
        cancel, number = bool(found["cancel"]), int(found["n"] or 0)
        return TagName("assignment", found["model"], None, found["env"], number, cancel)
    found = _APPROVAL_TAG.fullmatch(name)
    if found:
        version = SemVer.parse(found["version"])
        return TagName("approval", found["model"], version, found["env"])
    return None
