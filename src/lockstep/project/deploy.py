"""The deploy side of the facade: ``lockstep deploy NAME --env ENV`` sends what
``NAME#ENV`` points to to the environment's ``target``.

- ``local``: a background server behind a router on the environment's port,
  switched blue-green after readiness and smoke checks (deploy/local.py). The server
  is ``lockstep serve NAME@vX.Y.Z --env ENV``, so it verifies the model exactly as
  ``lockstep serve`` does before loading it.
- ``kubernetes``: Deployment, Service and HorizontalPodAutoscaler manifests written to
  ``deploy/NAME/ENV/`` and applied with kubectl when there is a context.
- ``container``: a build context in ``.lockstep/deploy/NAME/ENV/context/``, built
  with buildah when it is installed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import DeployError, RegistryError
from lockstep.project.verify import model_digest

if TYPE_CHECKING:
    from lockstep.deploy.kubernetes import Release
    from lockstep.deploy.local import Deployed
    from lockstep.project.core import Project
    from lockstep.registry.spec import EnvironmentSpec
    from lockstep.registry.tags import Version


@dataclass(frozen=True)
class Rendered:
    """What the kubernetes and container targets made."""

    version: Version
    env: str
    target: str
    files: tuple[str, ...]  # workspace-relative
    applied: bool  # applied with kubectl, or built with buildah
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.version.model,
            "version": str(self.version.version),
            "env": self.env,
            "target": self.target,
            "files": list(self.files),
            "applied": self.applied,
            "detail": self.detail,
            **self.extra,
        }


class Deployments:
    def __init__(self, project: Project) -> None:
        self.project = project
        self.root = project.root

    def deploy(self, name: str, env: str, *, force: bool = False) -> Deployed | Rendered:
        models = self.project.models()
        spec = models.environment(env)
        version = models.registry().resolve(f"{name}#{env}")
        if spec.target == "kubernetes":
            return self._kubernetes(version, spec)
        if spec.target == "container":
            return self._container(version, spec)
        return self._local(version, spec, force=force)

    def status(self) -> list[dict[str, Any]]:
        from lockstep.deploy.local import LocalDeployer

        return LocalDeployer(self.root).status()

    def stop(self, name: str, env: str) -> dict[str, Any]:
        from lockstep.deploy.local import LocalDeployer
        from lockstep.registry.spec import ENV_NAME, MODEL_NAME

        if not MODEL_NAME.fullmatch(name) or ".." in name.split("/"):
            raise RegistryError(f"{name!r} is not a model name")
        if not ENV_NAME.fullmatch(env):
            raise RegistryError(f"{env!r} is not an environment name")

        return LocalDeployer(self.root).stop(name, env)

    # --- targets ------------------------------------------------------------------------

    def _local(self, version: Version, spec: EnvironmentSpec, *, force: bool) -> Deployed:
        from lockstep.deploy.local import LocalDeployer, Target

        settings = self.project.config.serve
        command = [
            sys.executable,
            "-m",
            "lockstep",
            "serve",
            version.ref,
            "--env",
            spec.name,
            "--workers",
            str(settings.workers),
        ]
        target = Target(
            model=version.model,
            env=spec.name,
            version=str(version.version),
            digest=model_digest(version),
            host=settings.host,
            port=spec.port or settings.port,
            command=command,
            smoke=spec.smoke,
            token=os.environ.get("LOCKSTEP_SERVE_TOKEN") or settings.token,
        )
        return LocalDeployer(self.root).deploy(target, force=force)

    def _kubernetes(self, version: Version, spec: EnvironmentSpec) -> Rendered:
        from lockstep.deploy import kubernetes
        from lockstep.deploy.settings import parse_kubernetes

        settings = parse_kubernetes(spec.kubernetes, f"environments.{spec.name}.kubernetes")
        dest = self.root / "deploy" / version.model / spec.name
        written = kubernetes.write(self._release(version, spec), settings, dest)
        applied, detail = kubernetes.apply(written)
        files = tuple(p.relative_to(self.root).as_posix() for p in written)
        return Rendered(version, spec.name, "kubernetes", files, applied, detail)

    def _container(self, version: Version, spec: EnvironmentSpec) -> Rendered:
        from lockstep.deploy import container
        from lockstep.deploy.local import folder
        from lockstep.deploy.settings import parse_container
        from lockstep.project.serving import Options, prepare

        settings = parse_container(spec.container, f"environments.{spec.name}.container")
        dest = folder(self.root, version.model, spec.name) / "context"
        release = self._release(version, spec)
        with tempfile.TemporaryDirectory(prefix="lockstep-container-") as tmp:
            prepared = prepare(version.ref, self.project, Path(tmp), Options(env=spec.name))
            _clear(dest)
            requirements = container.pinned_requirements(release.flavor)
            written = container.build_context(
                release, settings, Path(prepared.spec.path), dest, requirements
            )
        tag = settings.tag(version.model, str(version.version))
        built, detail = container.build(dest, tag)
        files = tuple(p.relative_to(self.root).as_posix() for p in written)
        return Rendered(version, spec.name, "container", files, built, detail, {"image": tag})

    def _release(self, version: Version, spec: EnvironmentSpec) -> Release:
        from lockstep.deploy.kubernetes import Release

        kind = str(version.meta.get("kind") or "file")
        filename = Path(str(version.meta.get("path") or "model")).name if kind == "file" else ""
        flavor = str(version.meta.get("flavor") or "unknown")
        return Release(
            version.model, str(version.version), model_digest(version), spec.name, filename, flavor
        )


def _clear(dest: Path) -> None:
    import shutil

    if dest.exists():
        shutil.rmtree(dest)
    if dest.exists():
        raise DeployError(f"cannot clear {dest}")
