"""How the CLI presents each kind of error: one table of class, exit code, next step."""

from __future__ import annotations

from lockstep import errors as e

EXIT_CHECK_FAILED = 1
EXIT_BAD_INPUT = 2

# (error class, exit code, next step or None); the first class that matches wins.
TABLE: list[tuple[type[e.LockstepError], int, str | None]] = [
    (e.NotAGitRepositoryError, 2, "run 'git init' first, or cd into a Git repository"),
    (e.NotInitializedError, 2, "run 'lockstep init' in the repository"),
    (e.UnknownRemoteError, 2, "add one with 'lockstep remote add NAME URL'"),
    (e.InvalidRevisionError, 2, None),
    (e.FileFormatError, 2, None),
    (e.UnknownRunError, 2, "list the runs with 'lockstep runs list'"),
    (e.InputError, 2, None),
    (
        e.CorruptObjectError,
        1,
        "corrupt objects are never checked out or pushed; 'lockstep pull' restores good bytes",
    ),
    (e.MissingObjectsError, 1, "run 'lockstep pull' (or 'lockstep fetch') to get them"),
    (
        e.WorkspaceConflictError,
        1,
        "save the changes with 'lockstep add', or pass --force to discard them",
    ),
    (
        e.SchemaCheckFailedError,
        1,
        "if the change is intended, edit the schema or write a new one with "
        "'lockstep data infer-schema PATH'",
    ),
    (
        e.PromotionRaceError,
        1,
        "run 'git fetch --tags', then run the command again: the gates then see what won",
    ),
    (e.CheckFailedError, 1, None),
    (
        e.TrackingError,
        1,
        "check LOCKSTEP_TRACKING_URI or [tracking] uri in .lockstep/config.toml",
    ),
    (e.LockstepError, 1, None),
]


def present(error: e.LockstepError) -> tuple[int, str, str | None]:
    for cls, code, hint in TABLE:
        if isinstance(error, cls):
            return code, str(error), hint
    return 1, str(error), None  # pragma: no cover - LockstepError is last
