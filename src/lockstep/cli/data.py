"""Data commands: init, add, status, checkout, diff, gc."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, human_size, open_project
from lockstep.cli.progress import bars
from lockstep.project import Project
from lockstep.types import format_digest

if TYPE_CHECKING:
    from lockstep.store.status import PathStatus


def init(json_output: bool = JSON_OPTION) -> None:
    """Make this Git repository a lockstep workspace.

    Creates lockstep.yaml, the .lockstep/ folder (cache, state, local config)
    and its .gitignore. Running it again changes nothing.
    """
    project, created = Project.init(Path.cwd())
    project.close()
    if json_output:
        emit_json({"root": str(project.root), "created": created})
        return
    verb = "Initialized" if created else "Already initialized:"
    echo(f"{verb} lockstep workspace in {project.root}")
    if created:
        echo("Next: lockstep add PATH, then git add the .lockstep pointer files.")


def add(
    paths: list[str] = typer.Argument(..., metavar="PATH...", help="Files or folders to track."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Track files and folders: cache their bytes and write PATH.lockstep pointers.

    Every file is hashed with sha256 (the digest sha256sum prints) and stored
    once in .lockstep/cache. By default the cache object is a reflink or a hard
    link to your file, so nothing is copied, and the file becomes read-only:
    replace it (write a new file, rename it over) rather than edit it in place.
    An in-place edit (possible as root) is caught: status warns, and the
    changed object is never pushed or checked out. Set cache.link = "copy" in
    .lockstep/config.toml to copy instead. Commit the pointer files with Git.
    """
    project = open_project()
    with bars(json_output) as progress:
        pointers = project.add(paths, progress)
    if json_output:
        emit_json([p.to_dict() | {"pointer": p.location} for p in pointers])
        return
    for p in pointers:
        what = f"{p.files} files, " if p.kind == "dir" else ""
        echo(f"added {p.target} ({p.kind}, {what}{human_size(p.size)}) -> {p.location}")
    locations = " ".join(p.location for p in pointers)
    echo(f"Next: git add {locations} and the .gitignore beside each")


def status(
    paths: list[str] = typer.Argument(
        None, metavar="PATH...", help="Tracked paths to check (default: all)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Show tracked data that differs from its pointer, file by file.

    modified: content differs; new: a file in a tracked folder the pointer does
    not list; deleted: listed but gone; missing: the whole path is gone (run
    lockstep checkout). Unchanged files are not hashed again.
    """
    project = open_project()
    with bars(json_output) as progress:
        results = project.status(paths or [], progress)
    if json_output:
        emit_json([r.to_dict() for r in results])
        return
    dirty = [r for r in results if not r.clean]
    if not results:
        echo("No tracked data. Track some with: lockstep add PATH")
    elif not dirty:
        echo(f"Up to date: {len(results)} tracked path(s) match their pointers.")
    for r in dirty:
        _print_status(r)


def _print_status(r: PathStatus) -> None:
    note = " (not in cache)" if r.not_in_cache else ""
    echo(f"{r.target}: {r.state}{note}")
    for label, items in (("modified", r.modified), ("new", r.new), ("deleted", r.deleted)):
        for item in items:
            echo(f"    {label + ':':<10}{item}")
    for item in r.corrupt:
        echo(f"    warning: {item} was edited in place through its link to the cache;")
        echo("             the cached copy is corrupt and will not be used (pull restores it)")


def checkout(
    paths: list[str] = typer.Argument(
        None, metavar="PATH...", help="Tracked paths (default: all)."
    ),
    force: bool = typer.Option(False, "--force", "-f", help="Discard unsaved changes."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Make the workspace match the pointers, from the cache.

    After 'git checkout OLD_COMMIT' this restores the data of that commit.
    Changes that exist nowhere else stop the checkout before anything is
    touched, unless --force.
    """
    project = open_project()
    with bars(json_output) as progress:
        result = project.checkout(paths or [], force=force, progress=progress)
    if json_output:
        emit_json({"written": list(result.written), "removed": list(result.removed)})
        return
    if not result.changed:
        echo("Nothing to do: the workspace matches the pointers.")
        return
    echo(f"Checked out {len(result.written)} file(s), removed {len(result.removed)}.")


def diff(
    revs: list[str] = typer.Argument(
        None,
        metavar="[REV [REV2]]",
        help="REV: compare REV with the workspace; REV REV2: compare two revisions.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """List what changed in tracked data between revisions.

    No argument: HEAD against the workspace. Folders are compared file by file
    when their tree objects are in the cache.
    """
    revs = revs or []
    if len(revs) > 2:
        raise typer.BadParameter("give at most two revisions")
    project = open_project()
    changes = project.diff(revs[0] if revs else None, revs[1] if len(revs) == 2 else None)
    if json_output:
        emit_json([c.to_dict() for c in changes])
        return
    if not changes:
        echo("No changes in tracked data.")
    for c in changes:
        digest = c.new or c.old or ""
        echo(f"{c.change:<9} {c.path}  {format_digest(digest)[:19]}")


def gc(
    all_commits: bool = typer.Option(
        False,
        "--all-commits",
        help="Keep objects referenced by any commit, not only the workspace.",
    ),
    dry_run: bool = typer.Option(False, "--dry-run", "-n", help="Show what would be removed."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Remove cache objects that no pointer references.

    By default only the pointers in the workspace count; with --all-commits,
    pointers in every commit reachable from any branch or tag count too.
    """
    project = open_project()
    result = project.gc(all_commits=all_commits, dry_run=dry_run)
    if json_output:
        emit_json(result.to_dict())
        return
    verb = "Would remove" if dry_run else "Removed"
    echo(
        f"{verb} {len(result.removed)} object(s) ({human_size(result.freed_bytes)}); "
        f"kept {result.kept}."
    )
    for digest in result.unknown_trees:
        echo(f"warning: tree {format_digest(digest)} is not in the cache; its files were not known")


def register(app: typer.Typer) -> None:
    for func in (init, add, status, checkout, diff, gc):
        app.command(func.__name__)(func)
