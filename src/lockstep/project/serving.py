"""What ``lockstep serve REF`` may load: the model's bytes copied to a folder the
server owns, checked before anything reads them.

- **Digest, always.** A registered version is exported from the cache and hashed
  again; it must be the digest its tag records. A package (``oci://``) must pass
  ``lockstep verify``'s layer and model-digest checks. A path is hashed, and must
  match ``--digest`` when given.
- **Signature, by the trust rules.** Required when the workspace trusts at least one
  key (``.lockstep/trusted-keys/``, committed) or the environment named by
  ``NAME#ENV`` has a ``signature`` gate. ``--allow-unsigned`` lifts a missing
  signature or one by an unknown key, loudly; it never lifts a signature that does
  not verify, a statement about other bytes or changed metadata: those are tampering.
- **Scan.** A pickle or joblib model is loaded only after ``lockstep scan`` passes on
  the exact bytes about to be loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lockstep.errors import InputError, LockstepError, VerificationError
from lockstep.project.verify import Check, Checks, model_digest, rehash
from lockstep.registry.flavor import detect
from lockstep.serving.spec import Batching, LogSettings, ServeSpec, Signature

if TYPE_CHECKING:
    from lockstep.config import ServeConfig
    from lockstep.project.core import Project
    from lockstep.registry.tags import Version

PICKLED = ("pickle", "joblib")


def _liftable(check: Check) -> bool:
    """What --allow-unsigned may lift: no signature at all, or one by a key this
    workspace does not trust; never a signature that does not verify."""
    return check.name == "signature" or check.name.endswith(" key")


@dataclass(frozen=True)
class Prepared(Checks):
    """A model ready to serve, and what was checked to get there."""

    spec: ServeSpec
    checks: tuple[Check, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.spec.name,
            "version": self.spec.version,
            "digest": f"sha256:{self.spec.digest}",
            "flavor": self.spec.flavor,
            "signed": not self.spec.unsigned,
            "checks": [c.to_dict() for c in self.checks],
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Options:
    allow_unsigned: bool = False
    digest: str | None = None  # a path REF must hash to this (64 hex)
    insecure: bool = False  # plain HTTP to an oci:// registry
    env: str | None = None  # apply this environment's trust rules (as deploy does)


def prepare(ref: str, project: Project | None, dest: Path, options: Options) -> Prepared:
    """Copy and check the model ``ref`` names into ``dest`` (a new folder).

    Inside a workspace a registered model's reference (``NAME``, ``NAME@vX.Y.Z``,
    ``NAME#ENV``) always means the registry's version, never a file of that name."""
    if project is not None and options.env is not None:
        project.models().environment(options.env)  # an unknown --env is bad input
    if ref.startswith("oci://"):
        if project is None:
            raise InputError(f"{ref}: serving a package needs a lockstep workspace (its keys)")
        return _from_package(ref, project, dest, options)
    if project is not None and _registered(project, ref):
        return _from_registry(ref, project, dest, options)
    if Path(ref).exists():
        return _from_path(ref, project, dest, options)
    if project is None:
        raise InputError(f"{ref}: no such file, and not inside a lockstep workspace")
    return _from_registry(ref, project, dest, options)


def _registered(project: Project, ref: str) -> bool:
    from lockstep.registry.tags import ref_model

    model = ref_model(ref)
    return model is not None and model in project.models().registry().models()


# --- registered versions -------------------------------------------------------------


def _from_registry(ref: str, project: Project, dest: Path, options: Options) -> Prepared:
    from lockstep.store.export import export

    trust = project.trust()
    version = trust.resolve(ref)
    digest = model_digest(version)
    shown = str(version.meta.get("path") or "model")
    copy = dest / Path(shown).name
    export(project.ws, digest, str(version.meta.get("kind") or "auto"), copy)
    checks = [_digest_check(copy, digest, "the registration")]
    required = _signature_required(project, ref, options.env)
    signed, found, warnings = _signature(project, version, required, options)
    checks += found
    flavor = str(version.meta.get("flavor") or detect(copy))
    checks += _scan(project, copy, flavor)
    _refuse_failed(version.ref, checks)
    env = options.env or _env_of(ref)
    spec = _spec(project, version.model, str(version.version), digest, flavor=flavor, path=copy,
                 env=env)  # fmt: skip
    signature = _recorded_signature(version.meta, version.tag)
    spec = _with(spec, signature=signature, unsigned=not signed)
    return Prepared(spec, tuple(checks), tuple(warnings))


def _signature_required(project: Project, ref: str, env: str | None) -> bool:
    """A key is trusted, or the environment of ``--env`` or of ``NAME#ENV`` has a
    ``signature`` gate."""
    if project.trust().trusted_keys():
        return True
    envs = project.models().environments
    named = [e for e in (env, _env_of(ref)) if e]
    return any(g.name == "signature" for e in named if e in envs for g in envs[e].gates)


def _signature(
    project: Project, version: Version, required: bool, options: Options
) -> tuple[bool, list[Check], list[str]]:
    """(signed, the signature checks to report, warnings)."""
    if not required and not project.trust().trusted_keys():
        return False, [], []
    verification = project.trust().verify(version.ref)
    found = [c for c in verification.checks if c.name != "model bytes"]
    if verification.passed:
        return True, found, []
    lifted = [c for c in found if not c.passed and _liftable(c)]
    tampered = [c for c in found if not c.passed and c not in lifted]
    if tampered or not (options.allow_unsigned or not required):
        return False, found, []
    kept = [c for c in found if c.passed]
    reasons = "; ".join(f"{c.name}: {c.detail}" for c in lifted)
    warning = f"serving {version.ref} WITHOUT a valid signature (--allow-unsigned): {reasons}"
    return False, kept, [warning]


def _recorded_signature(meta: Mapping[str, Any], source: str) -> Signature | None:
    """The input signature a version tag (or a package's config) records."""
    found = meta.get("signature")
    if not isinstance(found, dict) or "inputs" not in found:
        return None
    try:
        return Signature.from_list(found["inputs"], f"{source} signature")
    except LockstepError:
        return None  # a signature the server cannot use: it asks the model instead


# --- packages and paths --------------------------------------------------------------


def _from_package(ref: str, project: Project, dest: Path, options: Options) -> Prepared:
    from lockstep.project.package import LIFTABLE, check, signature_state

    package = project.package()
    pulled, where = package.pull(ref, dest / "package", insecure=options.insecure)
    trusted = project.trust().trusted_keys()
    verdict = check(pulled, trusted)
    checks = list(verdict.checks)
    warnings: list[str] = []
    required = _signature_required(project, ref, options.env)
    state = signature_state(pulled, trusted)
    unsigned = state != "valid"
    if unsigned and state in LIFTABLE and (options.allow_unsigned or not required):
        checks = [c for c in checks if c.name != "signature"]
        if required:
            warnings.append(f"serving {ref} WITHOUT a valid signature (--allow-unsigned): {state}")
    files = [f.path for f in pulled.files]
    model = where / files[0] if pulled.config.get("kind", "file") == "file" else where
    flavor = str(pulled.config.get("flavor") or detect(model))
    checks += _scan(project, model, flavor)
    _refuse_failed(ref, checks)
    name = str(pulled.config.get("model") or "model")
    release = str(pulled.config.get("version") or "")
    spec = _spec(project, name, release, _claimed(pulled.config), flavor=flavor, path=model)
    spec = _with(spec, unsigned=unsigned, signature=_recorded_signature(pulled.config, ref))
    return Prepared(spec, tuple(checks), tuple(warnings))


def _from_path(ref: str, project: Project | None, dest: Path, options: Options) -> Prepared:
    from lockstep import fs

    source = Path(ref)
    copy = dest / source.name
    if source.is_dir():
        import shutil

        shutil.copytree(source, copy)
    else:
        fs.copy_file(source, copy, sync=False)
    now = rehash(dest, source.name) or ""
    checks = [Check("model bytes", True, f"{ref} is sha256:{now}")]
    if options.digest is not None and options.digest != now:
        detail = f"{ref} hashes to sha256:{now}, --digest asks for sha256:{options.digest}"
        checks = [Check("model bytes", False, detail)]
    warnings: list[str] = []
    required = project is not None and _signature_required(project, ref, options.env)
    if required:
        if not options.allow_unsigned:
            detail = "a file path carries no signature: serve a registered version, or pass "
            checks.append(Check("signature", False, detail + "--allow-unsigned"))
        else:
            warnings.append(f"serving {ref} WITHOUT a signature (--allow-unsigned)")
    flavor = detect(copy)
    checks += _scan(project, copy, flavor)
    _refuse_failed(ref, checks)
    name = source.stem if source.is_file() else source.name
    spec = _spec(project, name, "", now, flavor=flavor, path=copy)
    return Prepared(_with(spec, unsigned=True), tuple(checks), tuple(warnings))


# --- shared steps --------------------------------------------------------------------


def _digest_check(copy: Path, digest: str, what: str) -> Check:
    now = rehash(copy.parent, copy.name)
    if now == digest:
        return Check("model bytes", True, f"the copy served is sha256:{digest}")
    detail = f"the copy served hashes to sha256:{now}, {what} records sha256:{digest}"
    return Check("model bytes", False, detail)


def _scan(project: Project | None, path: Path, flavor: str) -> list[Check]:
    if flavor not in PICKLED:
        return []
    from lockstep.supplychain.scan import scan_path

    allow = project.config.scan.allow if project is not None else ()
    report = scan_path(path, allow)
    if report.safe:
        return [Check("scan", True, f"{flavor}: nothing unsafe to load")]
    first = report.findings[0]
    shown = Path(first.file).name
    more = len(report.findings) - 1
    detail = f"{shown}: {first.detail}" + (f" (and {more} more findings)" if more else "")
    return [Check("scan", False, detail + "; see 'lockstep scan'")]


def _refuse_failed(ref: str, checks: list[Check]) -> None:
    failed = {c.name: c.detail for c in checks if not c.passed}
    if failed:
        raise VerificationError(ref, failed)


def _spec(
    project: Project | None,
    name: str,
    version: str,
    digest: str,
    *,
    flavor: str,
    path: Path,
    env: str | None = None,
) -> ServeSpec:
    settings = project.config.serve if project is not None else None
    return ServeSpec(
        name=name,
        version=version,
        digest=digest,
        flavor=flavor,
        path=str(path),
        batching=_batching(settings),
        log=_log(project, name, env),
    )


def _batching(settings: ServeConfig | None) -> Batching:
    if settings is None:
        return Batching()
    return Batching(settings.max_batch_size, settings.max_latency_ms)


def _log(project: Project | None, name: str, env: str | None) -> LogSettings:
    if project is None or project.config.serve.sample_rate == 0:
        return LogSettings()  # outside a workspace: no inference log
    settings = project.config.serve
    return LogSettings(
        url=log_location(project, name, env),
        sample_rate=settings.sample_rate,
        flush_seconds=settings.log_flush_seconds,
    )


def log_location(project: Project, name: str, env: str | None) -> str:
    """Where the inference log of ``name`` (served for ``env``) goes: ``LOG_URL/NAME/ENV``
    or ``.lockstep/monitor/NAME/ENV``, without ``/ENV`` when served for none."""
    base = project.config.serve.log_url
    root = base.rstrip("/") if base else str(project.root / ".lockstep" / "monitor")
    return f"{root}/{name}" + (f"/{env}" if env else "")


def _env_of(ref: str) -> str | None:
    return ref.split("#", 1)[1] if "#" in ref else None


def _with(spec: ServeSpec, **changes: Any) -> ServeSpec:
    from dataclasses import replace

    return replace(spec, **changes)


def _claimed(config: dict[str, Any]) -> str:
    return str(config.get("digest") or "").removeprefix("sha256:")
