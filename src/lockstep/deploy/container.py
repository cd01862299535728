"""A container image for one model version: its build context, and a build with buildah.

The context holds everything the image needs and nothing else::

    Dockerfile        FROM <base image>; pip installs requirements.txt; the model at
                      /models/<file>; runs as a non-root user;
                      ENTRYPOINT lockstep serve /models/<file> --digest sha256:<hex> ...
    requirements.txt  name==version of lockstep-ml and what the flavor needs
    .dockerignore     only the three entries above go to the builder
    model/            the model file, or the folder's content

The server refuses to load a model whose digest is not the one in the ENTRYPOINT,
so an image cannot serve other bytes under the version's name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

from lockstep import fs
from lockstep.deploy.kubernetes import MODELS, Release, serve_command
from lockstep.deploy.settings import ContainerSettings
from lockstep.errors import DeployError

USER_ID = 65532
BUILD_TIMEOUT = 3600
SERVER = ("lockstep-ml", "fastapi", "uvicorn", "prometheus-client", "numpy", "pandas", "pyarrow")
# Each flavor's packages; a tuple of names is one package under any of its names.
FLAVORS: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "skops": ("scikit-learn", "skops"),
    "joblib": ("scikit-learn", "joblib"),
    "pickle": ("scikit-learn",),
    "xgboost": (("xgboost", "xgboost-cpu"),),
    "lightgbm": ("lightgbm",),
    "onnx": ("onnxruntime",),
}
DOCKERIGNORE = "*\n!Dockerfile\n!requirements.txt\n!model\n"


def pinned_requirements(flavor: str) -> list[str]:
    """``name==version`` of the installed server packages and those of ``flavor``;
    packages not installed here are left out."""
    wanted = [*SERVER, *FLAVORS.get(flavor, ())]
    pinned: list[str] = []
    for entry in wanted:
        line = _pin(entry if isinstance(entry, tuple) else (entry,))
        if line and line not in pinned:
            pinned.append(line)
    return pinned


def _pin(names: tuple[str, ...]) -> str | None:
    for name in names:
        try:
            return f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return None


def _labels(release: Release) -> dict[str, str]:
    return {
        "org.opencontainers.image.title": release.model,
        "org.opencontainers.image.version": release.version,
        "org.opencontainers.image.description": (
            f"{release.ref} ({release.flavor}) served by lockstep"
        ),
        "dev.lockstep.model": release.model,
        "dev.lockstep.model.digest": f"sha256:{release.digest}",
        "dev.lockstep.model.flavor": release.flavor,
        "dev.lockstep.environment": release.env,
    }


def dockerfile(release: Release, settings: ContainerSettings, name: str) -> str:
    """The Dockerfile; ``name`` is the model's file name, "" for a folder."""
    served = f"{MODELS}/{name}" if name else MODELS
    labels = " \\\n      ".join(
        f"{key}={json.dumps(value)}" for key, value in _labels(release).items()
    )
    probe = (
        "import urllib.request; urllib.request.urlopen("
        f"'http://127.0.0.1:{settings.port}/v2/health/ready', timeout=2)"
    )
    copy = [f"model/{name}", served] if name else ["model/", f"{MODELS}/"]
    lines = [
        f"# {release.ref} (sha256:{release.digest[:12]}...), written by lockstep",
        f"FROM {settings.base_image}",
        f"LABEL {labels}",
        "ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\",
        "    HOME=/tmp",
        "COPY requirements.txt /tmp/requirements.txt",
        "RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt",
        f"COPY {json.dumps(copy)}",
        f"USER {USER_ID}:{USER_ID}",
        f"EXPOSE {settings.port}",
        "HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \\",
        f"  CMD {json.dumps(['python', '-c', probe])}",
        f"ENTRYPOINT {json.dumps(serve_command(served, release.digest, settings.port))}",
    ]
    return "\n".join(lines) + "\n"


def build_context(
    release: Release,
    settings: ContainerSettings,
    model_path: Path,
    dest: Path,
    requirements: list[str],
) -> list[Path]:
    """Write the build context into ``dest``: Dockerfile, requirements.txt,
    .dockerignore and the model (a file or a folder) under ``model/``."""
    if not model_path.exists():
        raise DeployError(f"{release.ref}: the model {model_path} does not exist")
    name = "" if model_path.is_dir() else release.filename or model_path.name
    dest.mkdir(parents=True, exist_ok=True)
    files = {
        "Dockerfile": dockerfile(release, settings, name),
        "requirements.txt": "".join(f"{line}\n" for line in requirements),
        ".dockerignore": DOCKERIGNORE,
    }
    written = []
    for file, text in files.items():
        fs.atomic_write_text(dest / file, text)
        written.append(dest / file)
    model = _copy_model(model_path, dest, name)
    return [*written, model]


def _mode(path: Path) -> int:
    return 0o755 if path.stat().st_mode & 0o100 else 0o644


def _copy(src: str, dst: str) -> str:
    fs.copy_file(src, dst, sync=False, mode=_mode(Path(src)))
    return dst


def _skip_temp(folder: str, names: list[str]) -> set[str]:
    return {name for name in names if fs.is_temp_name(name)}


def _copy_model(source: Path, dest: Path, name: str) -> Path:
    """Copy the model to ``dest/model``, replacing what was there in one rename."""
    target = dest / "model"
    staging = fs.temp_path_for(target)
    try:
        if name:
            staging.mkdir()
            _copy(str(source), str(staging / name))
        else:
            shutil.copytree(source, staging, copy_function=_copy, ignore=_skip_temp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target / name if name else target


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def build(dest: Path, tag: str) -> tuple[bool, str]:
    """``buildah bud`` the context in ``dest`` as ``tag``: (True, the image id) when built,
    (False, what to run instead) when buildah is not installed. A failing build raises."""
    if not (dest / "Dockerfile").is_file():
        raise DeployError(f"{dest} is not a build context (no Dockerfile)")
    if shutil.which("buildah") is None:
        return False, (
            f"buildah is not installed: build the context with "
            f"docker build -t {tag} {dest} (or podman build -t {tag} {dest})"
        )
    command = ["buildah", "bud", "--format", "docker", "-t", tag, str(dest)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise DeployError(f"buildah bud -t {tag} took more than {BUILD_TIMEOUT} s") from exc
    if done.returncode != 0:
        raise DeployError(f"buildah bud -t {tag} {dest} failed:\n{_tail(done.stderr)}")
    return True, _tail(done.stdout, 1)
