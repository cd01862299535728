"""Tag names of the registry, as GTO writes and reads them, and semantic versions.

churn@v1.2.0                   a version (annotated tag on the commit that has it)
churn#production#3             the 3rd assignment to production (annotated tag on
                               the version's commit); the highest number wins
approval/churn/v1.2.0/production/<12 hex>
                               an approval by one identity (ignored by GTO)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from lockstep.errors import InputError

SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
NAME = r"[a-zA-Z0-9](?:[a-zA-Z0-9-/_]*[a-zA-Z0-9])?"  # GTO's artifact and stage names
_VERSION_TAG = re.compile(rf"(?P<model>{NAME})@v(?P<version>\d+\.\d+\.\d+)")
_ASSIGN_TAG = re.compile(rf"(?P<model>{NAME})#(?P<env>{NAME})#(?P<n>\d+)")
_APPROVAL_TAG = re.compile(
    r"approval/(?P<model>.+)/v(?P<version>\d+\.\d+\.\d+)/(?P<env>[a-z0-9-]+)/(?P<who>[0-9a-f]{12})"
)


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


def version_tag(model: str, version: SemVer) -> str:
    return f"{model}@v{version}"


def assignment_tag(model: str, env: str, number: int) -> str:
    return f"{model}#{env}#{number}"


def approval_tag(model: str, version: SemVer, env: str, actor: str) -> str:
    who = hashlib.sha256(actor.encode("utf-8")).hexdigest()[:12]
    return f"approval/{model}/v{version}/{env}/{who}"


def parse_version_tag(name: str) -> tuple[str, SemVer] | None:
    match = _VERSION_TAG.fullmatch(name)
    return (match["model"], SemVer.parse(match["version"])) if match else None


def parse_assignment_tag(name: str) -> tuple[str, str, int] | None:
    match = _ASSIGN_TAG.fullmatch(name)
    return (match["model"], match["env"], int(match["n"])) if match else None


def parse_approval_tag(name: str) -> tuple[str, SemVer, str] | None:
    match = _APPROVAL_TAG.fullmatch(name)
    return (match["model"], SemVer.parse(match["version"]), match["env"]) if match else None
