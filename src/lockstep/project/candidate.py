"""The model file a registration is about: committed, unchanged, and with its lineage."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING

from lockstep import git
from lockstep.errors import RegistryError
from lockstep.project.signature import input_signature
from lockstep.registry.flavor import detect
from lockstep.registry.lineage import lineage
from lockstep.registry.register import Candidate
from lockstep.store.build import current_digest
from lockstep.store.pointer import Pointer
from lockstep.store.workspace import relative_target

if TYPE_CHECKING:
    from lockstep.project.core import Project


def candidate(project: Project, name: str, path: str, actor: str) -> Candidate:
    """The model at ``path`` as HEAD has it; refuses one that is not committed, or
    whose bytes in the workspace differ from what HEAD records."""
    root = project.root
    target = relative_target(root, path, project.cwd)
    commit = git.head(root)
    if commit is None:
        raise RegistryError("the repository has no commit yet: commit the model's pointer first")
    pointers = project.pointers_at("HEAD")
    pointer = next((p for p in pointers if p.target == target), None)
    if pointer is None:
        pointer = _inside_folder(project, pointers, target)
    now = current_digest(root, target, project.ws.state)
    if now is None:
        raise RegistryError(f"{target} is missing from the workspace: run 'lockstep checkout'")
    if now != pointer.digest:
        raise RegistryError(
            f"{target} in the workspace differs from what HEAD records ({pointer.location}); "
            "add and commit it, or run 'lockstep checkout'"
        )
    found = lineage(target, pointer.digest, project.lock_at("HEAD"), [p.target for p in pointers])
    spec = project.models().specs.get(name)
    signature = input_signature(root, spec, found.inputs)
    flavor = detect(root / target)
    return Candidate(name, target, pointer, commit, flavor, found, actor, signature)


def _inside_folder(project: Project, pointers: list[Pointer], target: str) -> Pointer:
    """A model file inside a tracked folder: a pointer for that one file."""
    folder = next((p for p in pointers if target.startswith(p.target + "/")), None)
    if folder is None or folder.kind != "dir":
        raise RegistryError(
            f"{target} is not tracked in HEAD: track it with 'lockstep add' (or make it a "
            "stage's output) and commit the pointer file or lockstep.lock"
        )
    tree = project.ws.tree(folder.digest)
    if tree is None:
        raise RegistryError(
            f"the listing of {folder.target} is not in the cache: run 'lockstep pull' first"
        )
    entry = tree.by_path().get(target[len(folder.target) + 1 :])
    if entry is None:
        raise RegistryError(
            f"{target} is not a file of {folder.target} as HEAD records it "
            "(a model inside a tracked folder must be one file)"
        )
    base = posixpath.dirname(folder.location)
    path = posixpath.relpath(target, base or ".")
    return Pointer(folder.location, path, "file", entry.digest, entry.size)
