"""The registry side of the facade: models and environments from ``lockstep.yaml``,
versions and assignments from Git tags, gates fed from the workspace's cache."""

from __future__ import annotations

import getpass
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep import git
from lockstep.errors import RegistryError
from lockstep.registry import promote as promotion
from lockstep.registry.gates.base import GateContext, Verdict, run_gates
from lockstep.registry.names import parse
from lockstep.registry.spec import (
    MODEL_NAME,
    EnvironmentSpec,
    ModelSpec,
    parse_environments,
    parse_models,
)
from lockstep.registry.tags import Assignment, Registry, Version

if TYPE_CHECKING:
    from lockstep.project.core import Project
    from lockstep.registry.history import Event
    from lockstep.registry.register import Candidate


def _registry_tag(name: str) -> bool:
    return parse(name) is not None or name.startswith("attestation/")


@dataclass(frozen=True)
class Promotion:
    version: Version
    env: str
    verdicts: list[Verdict]
    tag: str | None  # None: a gate failed, nothing was promoted
    already: bool = False  # the environment runs this version already: nothing done

    @property
    def failed(self) -> list[str]:
        return [v.gate for v in self.verdicts if not v.passed]


class Models:
    """Register, check, promote, approve, roll back and tell the history."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.root

    @cached_property
    def specs(self) -> dict[str, ModelSpec]:
        return parse_models(self.project.project_file.models)

    @cached_property
    def environments(self) -> dict[str, EnvironmentSpec]:
        return parse_environments(self.project.project_file.environments)

    def registry(self) -> Registry:
        return Registry.load(self.root)

    def actor(self) -> str:
        return git.identity(self.root) or getpass.getuser()

    # --- register ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        path: str | None,
        version: str | None,
        *,
        push: bool | None = None,
        reason: str | None = None,
    ) -> Version:
        from lockstep.registry.register import register

        if not MODEL_NAME.fullmatch(name) or "//" in name:
            raise RegistryError(f"{name!r}: a model name uses letters, digits, '-', '_' and '/'")
        remote = self._remote(push)
        candidate = self._candidate(name, path)
        registry = self.registry()
        tag = register(self.root, registry, candidate, version, reason=reason)
        attached = self.project.trust().evidence(tag)
        if remote is not None:
            promotion.publish(self.root, tag, remote)
            for found in attached:
                promotion.publish(self.root, found.attestation.tag, remote)
        return self.registry().resolve(tag)

    def _candidate(self, name: str, path: str | None) -> Candidate:
        from lockstep.project.candidate import candidate

        spec = self.specs.get(name)
        if path is None and spec is None:
            raise RegistryError(f"model {name} is not in lockstep.yaml: give --path PATH")
        # a path from lockstep.yaml is relative to the workspace root, not the cwd
        chosen = path if path is not None else str(self.root / spec.path)  # type: ignore[union-attr]
        return candidate(self.project, name, chosen, self.actor())

    # --- gates and assignments ----------------------------------------------------------

    def check(self, ref: str, env: str) -> tuple[Version, list[Verdict]]:
        registry = self.registry()
        version = registry.resolve(ref)
        return version, self._run_gates(registry, version, self._env(env))

    def promote(
        self, ref: str, env: str, *, push: bool | None = None, reason: str | None = None
    ) -> Promotion:
        remote = self._remote(push)
        registry = self.registry()
        version = registry.resolve(ref)
        running = registry.current(version.model, env)
        spec = self._env(env)
        if running is not None and running.version == version.version:
            return Promotion(version, env, [], running.tag, already=True)
        verdicts = self._run_gates(registry, version, spec)
        if any(not v.passed for v in verdicts):
            return Promotion(version, env, verdicts, None)
        extra: dict[str, Any] = {"gates": promotion.gate_record(verdicts)}
        if reason:
            extra["reason"] = reason
        tag = promotion.assign(
            self.root, registry, version, env, actor=self.actor(), extra=extra, push_to=remote
        )
        return Promotion(version, env, verdicts, tag)

    def approve(
        self, ref: str, env: str, *, push: bool | None = None
    ) -> tuple[Version, str | None]:
        self._env(env)
        remote = self._remote(push)
        registry = self.registry()
        version = registry.resolve(ref)
        tag = promotion.approve(self.root, registry, version, env, self.actor())
        if tag is not None and remote is not None:
            promotion.publish(self.root, tag, remote)
        return version, tag

    def rollback(
        self, name: str, env: str, to: str | None, *, push: bool | None = None
    ) -> tuple[Version, Assignment | None, str]:
        remote = self._remote(push)
        registry = self.registry()
        current = registry.current(name, env)
        target = promotion.rollback_target(registry, name, env, to)
        was = str(current.version) if current and current.version else None
        extra = {"action": "rollback", "from": was, "reason": f"rollback from v{was}"}
        tag = promotion.assign(
            self.root, registry, target, env, actor=self.actor(), extra=extra, push_to=remote
        )
        return target, current, tag

    def history(self, name: str, env: str | None) -> list[Event]:
        from lockstep.registry.history import history

        registry = self.registry()
        self.known(registry, name, env)
        return history(self.root, registry, name, env)

    def known(self, registry: Registry, name: str, env: str | None) -> None:
        """Refuse a model the registry does not know, or an environment neither
        lockstep.yaml nor the registry knows."""
        if name not in registry.models():
            known = ", ".join(registry.models()) or "none yet"
            raise RegistryError(f"no registered model named {name!r} (registered: {known})")
        used = registry.assignments.get(name, {})
        if env is not None and env not in self.environments and env not in used:
            self._env(env)

    def push_remote(self) -> str:
        """The Git remote registry tags go to, checked (and its tags fetched)."""
        remote = self._remote(True)
        assert remote is not None
        return remote

    def environment(self, name: str) -> EnvironmentSpec:
        """The environment ``name`` of lockstep.yaml; an error naming the known ones."""
        return self._env(name)

    # --- helpers ----------------------------------------------------------------------

    def _env(self, name: str) -> EnvironmentSpec:
        if name not in self.environments:
            known = ", ".join(self.environments) or "none"
            raise RegistryError(
                f"no environment named {name!r} in lockstep.yaml (environments: {known})"
            )
        return self.environments[name]

    def _remote(self, push: bool | None) -> str | None:
        """The Git remote to push new tags to (after fetching its tags), or None."""
        settings = self.project.config.registry
        if not (settings.push if push is None else push):
            return None
        if settings.remote not in git.remote_names(self.root):
            raise RegistryError(
                f"no Git remote named {settings.remote!r} to push registry tags to "
                "(set [registry] remote, or pass --no-push)"
            )
        git.fetch_tags(self.root, settings.remote, _registry_tag)
        return settings.remote

    def _run_gates(
        self, registry: Registry, version: Version, env: EnvironmentSpec
    ) -> list[Verdict]:
        from lockstep.project.gates import supply_chain_gates

        ctx = self._context(registry, version, env)
        return run_gates(ctx, supply_chain_gates(self.project))

    def _context(self, registry: Registry, version: Version, env: EnvironmentSpec) -> GateContext:
        from lockstep.store.export import export

        def materialize(digest: str, kind: str, dest: Path) -> None:
            export(self.project.ws, digest, kind, dest)

        def read_at(commit: str, path: str) -> bytes | None:
            return git.read_file_at(self.root, commit, path)

        return GateContext(
            root=self.root,
            registry=registry,
            candidate=version,
            env=env,
            model=self.specs.get(version.model),
            materialize=materialize,
            read_at=read_at,
            run=self._run,
        )

    def _run(self, command: str, env: Mapping[str, str]) -> tuple[int, str]:
        import os

        done = subprocess.run(
            command,
            shell=True,
            cwd=self.root,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=False,
        )
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return done.returncode, " | ".join(tail)
