"""The one error tree of lockstep.

Every error the core raises derives from :class:`LockstepError` and carries
fields, not only a message. Adapters that talk to foreign systems (git, S3,
HTTP registries) translate their errors into this tree at the edge, chained to
the original. The shells (CLI, server) decide how each class is presented and
which exit code or HTTP status it maps to.
"""

from __future__ import annotations


class LockstepError(Exception):
    """Root of every error lockstep raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- bad input: the user can fix it by changing a file, a flag or a value ---------


class InputError(LockstepError):
    """Something the user gave (a path, a flag, a file) is not acceptable."""


class NotAGitRepositoryError(InputError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not inside a Git repository")
        self.path = path


class NotInitializedError(InputError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not a lockstep workspace (no lockstep.yaml)")
        self.path = path


class FileFormatError(InputError):
    """A file lockstep reads is malformed; names the file and the field."""

    def __init__(self, file: str, field: str | None, problem: str) -> None:
        where = f"{file}: {field}" if field else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.field = field
        self.problem = problem


class ConfigError(FileFormatError):
    """lockstep.yaml or .lockstep/config*.toml is malformed."""


class PointerError(FileFormatError):
    """A pointer file (PATH.lockstep) is malformed."""


class TreeError(FileFormatError):
    """A tree object is malformed or names a path outside its directory."""


class PathError(InputError):
    """A path argument is unusable (missing, outside the workspace, not tracked)."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UnknownRemoteError(InputError):
    def __init__(self, name: str | None, known: list[str]) -> None:
        if name is None:
            msg = "no remote given and no default remote configured"
        else:
            msg = f"no remote named {name!r}"
        if known:
            msg += f" (known: {', '.join(sorted(known))})"
        super().__init__(msg)
        self.name = name
        self.known = known


class InvalidRevisionError(InputError):
    def __init__(self, rev: str) -> None:
        super().__init__(f"{rev!r} is not a Git revision in this repository")
        self.rev = rev


# --- failed checks: the data does not match what it claims to be --------------------


class CheckFailedError(LockstepError):
    """A verification did not pass (exit code 1)."""


class CorruptObjectError(CheckFailedError):
    """A stored object's bytes no longer hash to its name."""

    def __init__(
        self, digest: str, location: str, actual: str | None = None, path: str | None = None
    ) -> None:
        msg = f"object sha256:{digest}" + (f" ({path})" if path else "")
        msg += f" at {location} is corrupt"
        if actual:
            msg += f": its bytes hash to sha256:{actual[:12]}…"
        super().__init__(msg)
        self.digest = digest
        self.location = location
        self.actual = actual


# --- operational failures: the work could not be done -------------------------------


class OperationError(LockstepError):
    """The requested work could not be completed."""


class MissingObjectsError(OperationError):
    def __init__(self, digests: list[str], where: str, paths: list[str] | None = None) -> None:
        shown = ", ".join(paths or [f"sha256:{d[:12]}" for d in digests][:5])
        more = "" if len(digests) <= 5 else f" and {len(digests) - 5} more"
        super().__init__(f"{len(digests)} object(s) missing from {where}: {shown}{more}")
        self.digests = digests
        self.where = where
        self.paths = paths or []


class WorkspaceConflictError(OperationError):
    """Applying a change would destroy data that is not saved anywhere."""

    def __init__(self, paths: list[str], action: str) -> None:
        shown = ", ".join(paths[:5]) + ("" if len(paths) <= 5 else f" and {len(paths) - 5} more")
        super().__init__(f"{action} would overwrite unsaved changes in {shown}")
        self.paths = paths
        self.action = action


class ChangedWhileReadingError(OperationError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} changed while lockstep was reading it; run the command again")
        self.path = path


class RemoteError(OperationError):
    """A remote (file, S3, OCI registry) failed or refused a request."""

    def __init__(self, remote: str, problem: str) -> None:
        super().__init__(f"remote {remote}: {problem}")
        self.remote = remote
        self.problem = problem


class TransferError(OperationError):
    """Some objects could not be pushed or fetched; the rest were."""

    def __init__(self, action: str, failures: dict[str, str]) -> None:
        _, problem = min(failures.items())
        more = "" if len(failures) == 1 else f" (and {len(failures) - 1} more)"
        super().__init__(f"{action} failed for {len(failures)} object(s): {problem}{more}")
        self.action = action
        self.failures = failures


class GitError(OperationError):
    def __init__(self, command: str, problem: str) -> None:
        super().__init__(f"git {command}: {problem}")
        self.command = command
        self.problem = problem


# --- pipelines and tracking -----------------------------------------------------------


class PipelineError(InputError):
    """The pipeline as declared cannot be run (a cycle, two stages writing one output,
    an unknown stage, a dependency nothing provides)."""


class UnknownRunError(InputError):
    def __init__(self, run_id: str, problem: str = "no run with this id") -> None:
        super().__init__(f"run {run_id}: {problem}")
        self.run_id = run_id


class FilterError(InputError):
    """A run filter or sort key cannot be parsed."""

    def __init__(self, expression: str, problem: str) -> None:
        super().__init__(f"filter {expression!r}: {problem}")
        self.expression = expression
        self.problem = problem


class NoActiveRunError(InputError):
    """``tracking.current()`` outside a stage started by ``lockstep run``."""

    def __init__(self) -> None:
        super().__init__(
            "no active run: LOCKSTEP_RUN_ID is not set (tracking.current() works inside "
            "a stage started by 'lockstep run'; use tracking.start_run() elsewhere)"
        )


class StageFailedError(OperationError):
    """One or more stages exited with an error; the others finished or were stopped."""

    def __init__(self, failures: dict[str, str]) -> None:
        names = ", ".join(sorted(failures))
        lines = failures[min(failures)].splitlines() or ["failed"]
        super().__init__(f"stage(s) failed: {names}: {lines[0]}")
        self.failures = failures


class TrackingError(OperationError):
    """The tracking database failed or refused a request."""

    def __init__(self, uri: str, problem: str) -> None:
        super().__init__(f"tracking database {uri}: {problem}")
        self.uri = uri
        self.problem = problem


class DaskError(OperationError):
    """The Dask cluster could not be reached, started or used."""

    def __init__(self, address: str, problem: str) -> None:
        super().__init__(f"dask cluster {address}: {problem}")
        self.address = address
        self.problem = problem


# --- the model registry -------------------------------------------------------------


class RegistryError(InputError):
    """A model, version, environment or reference the registry does not know, or an
    action it refuses (a version registered twice)."""


class GatesFailedError(CheckFailedError):
    """One or more gates of an environment did not pass; nothing was promoted."""

    def __init__(self, ref: str, env: str, failed: list[str]) -> None:
        super().__init__(f"{ref} did not pass the gates of {env}: {', '.join(failed)}")
        self.ref = ref
        self.env = env
        self.failed = failed


class PromotionRaceError(OperationError):
    """The shared Git remote already has the assignment tag this promotion made."""

    def __init__(self, tag: str, remote: str) -> None:
        super().__init__(
            f"{remote} already has {tag}: another change to the registry won the race; "
            "nothing was overwritten and the local tag was removed"
        )
        self.tag = tag
        self.remote = remote


# --- data checks ----------------------------------------------------------------------


class TableReadError(FileFormatError):
    """A CSV or Parquet file cannot be read as a table, or its columns differ from
    the other files of the same folder."""


class SchemaFileError(FileFormatError):
    """A data schema file (pandera YAML) is malformed."""


class SchemaCheckFailedError(CheckFailedError):
    """Data does not pass its schema; the failures are in the report already shown."""

    def __init__(self, source: str, schema: str, columns: list[str], failures: int) -> None:
        shown = ", ".join(columns[:5]) + (
            "" if len(columns) <= 5 else f" and {len(columns) - 5} more"
        )
        super().__init__(
            f"{source} does not match {schema}: {failures} check(s) failed in column(s) {shown}"
        )
        self.source = source
        self.schema = schema
        self.columns = columns
        self.failures = failures


# --- model scanning -------------------------------------------------------------------


class UnsafeModelError(CheckFailedError):
    """A scanned model file would import or run something not known to be safe when
    loaded, or cannot be read well enough to tell; the findings were shown already."""

    def __init__(self, files: list[str]) -> None:
        shown = ", ".join(files[:5]) + ("" if len(files) <= 5 else f" and {len(files) - 5} more")
        super().__init__(f"{len(files)} file(s) unsafe to load: {shown}")
        self.files = files


# --- signatures and attestations ------------------------------------------------------


class SigningKeyError(InputError):
    """A signing key is missing, exists already, is ambiguous, or cannot be read."""

    def __init__(self, name: str | None, problem: str) -> None:
        super().__init__(f"signing key {name}: {problem}" if name else f"signing key: {problem}")
        self.name = name
        self.problem = problem


class AttestationFormatError(FileFormatError):
    """A stored attestation (DSSE envelope or in-toto statement) is malformed."""


class VerificationError(CheckFailedError):
    """A model version failed verification; ``failed`` maps each failed check to what
    did not match."""

    def __init__(self, ref: str, failed: dict[str, str]) -> None:
        shown = "; ".join(f"{name}: {detail}" for name, detail in list(failed.items())[:3])
        more = "" if len(failed) <= 3 else f" (and {len(failed) - 3} more)"
        super().__init__(f"{ref} failed verification: {shown}{more}")
        self.ref = ref
        self.failed = failed


# --- serving and deployment -----------------------------------------------------------


class ServingError(InputError):
    """A model cannot be served as asked: an unknown flavor, a file its flavor cannot
    load, an input signature that does not fit the model, or a setting out of range."""


class DeployError(OperationError):
    """A deployment could not be made, checked or stopped; what serves stays as it was."""


class DeployCheckFailedError(CheckFailedError):
    """A new deployment did not pass readiness or its smoke checks; it was stopped and
    what served before keeps serving."""


# --- monitoring -----------------------------------------------------------------------


class DriftDetectedError(CheckFailedError):
    """Live data drifted from the reference; the drifted features were shown already."""

    def __init__(self, model: str, features: list[str]) -> None:
        shown = ", ".join(features[:5]) + (
            "" if len(features) <= 5 else f" and {len(features) - 5} more"
        )
        super().__init__(f"{model}: drift in {len(features)} feature(s): {shown}")
        self.model = model
        self.features = features


class NoDataError(InputError):
    """There are no rows to judge (an empty inference log, or none in the window)."""


class PerformanceDropError(CheckFailedError):
    """The model's metric fell beyond the allowed drop in some period."""
