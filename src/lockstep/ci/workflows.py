"""CI workflows that call only lockstep commands (``lockstep ci init``).

Four moments of a model's life, one job (or one job per model and environment) each:

===================  =====================================================================
pull request         ``pull``, ``run``, ``model register --no-push`` (a local candidate, so
                     the gates see the change), ``report --vs origin/BASE`` posted as a
                     comment, then ``check`` against the entry environment
default branch       ``pull``, ``model register --push``, ``push`` (when ``lockstep.lock``
                     or a pointer file changed)
tag ``NAME#ENV#N``   ``pull``, ``deploy NAME --env ENV``: promotion makes the tag, the tag
                     deploys
schedule             ``pull``, ``monitor drift NAME --env production``; on exit code 1
                     ``monitor retrain NAME --force --push --watch ENV``; ``push``
===================  =====================================================================

GitHub gets one workflow file per moment (each with its own trigger, permissions and
secrets); GitLab gets one ``.gitlab-ci.yml`` whose jobs have ``rules:`` for merge
requests, the default branch, tags and schedules. The glue beyond lockstep is kept to
checkout, Python, ``pip install`` and the comment post, plus two guarded one-liners:
writing the signing key from a secret, and (GitLab) a push URL with a token.

Jobs that run code from a pull request never get the signing key, the serving token
or a token that can push. Everything is built as plain data and dumped with PyYAML
(no anchors, literal blocks for scripts), so names and ``#`` in tag patterns are
always quoted correctly.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lockstep import __version__, fs
from lockstep.errors import InputError

PROVIDERS = ("github", "gitlab")
GITHUB_DIR = ".github/workflows"
GITLAB_FILE = ".gitlab-ci.yml"
REPORT = "report.md"
REPORT_FILES = "report_files/"

# Environment variables the jobs read; on GitHub each one is a repository secret of the
# same name, on GitLab a CI/CD variable (exported to every job by GitLab itself).
S3_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
OCI_SECRETS = ("LOCKSTEP_OCI_USERNAME", "LOCKSTEP_OCI_PASSWORD", "LOCKSTEP_OCI_TOKEN")
TRACKING_SECRET = "LOCKSTEP_TRACKING_URI"
SERVE_SECRET = "LOCKSTEP_SERVE_TOKEN"
SIGNING_SECRET = "LOCKSTEP_SIGNING_KEY"
KUBE_SECRET = "KUBE_CONFIG"  # GitHub; on GitLab a File variable named KUBECONFIG
GITLAB_NOTE_TOKEN = "LOCKSTEP_GITLAB_NOTE_TOKEN"
GITLAB_PUSH_TOKEN = "LOCKSTEP_GITLAB_PUSH_TOKEN"

_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9/_-]*[A-Za-z0-9])?")
_BRANCH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_PYTHON = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*")
_CRON_FIELD = re.compile(r"[0-9*/,A-Za-z-]+")


def remote_secrets(schemes: Iterable[str]) -> tuple[str, ...]:
    """The credential variables remotes of these URL schemes read, and the tracking URI."""
    found: list[str] = []
    kinds = set(schemes)
    if "s3" in kinds:
        found += S3_SECRETS
    if "oci" in kinds:
        found += OCI_SECRETS
    return (*found, TRACKING_SECRET)


@dataclass(frozen=True)
class Settings:
    """What the workflows are made of. ``environments`` maps each environment of
    lockstep.yaml, in its order, to its deploy target (local, kubernetes, container)."""

    models: tuple[str, ...] = ()
    environments: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = (TRACKING_SECRET,)
    branch: str = "main"
    python: str = "3.11"
    install: str = f"lockstep-ml=={__version__}"
    check_env: str | None = None  # the PR's 'lockstep check' runs this environment's gates
    monitor_env: str | None = None  # 'monitor drift' watches this one
    retrain_env: str | None = None  # 'monitor retrain' registers for this one
    schedule: str = "0 6 * * *"  # GitHub's cron; GitLab schedules are set in its UI
    signing_key: str = "ci"  # .lockstep/keys/NAME.key written from LOCKSTEP_SIGNING_KEY


def settings(
    models: Sequence[str],
    environments: Mapping[str, str],
    secrets: Sequence[str] = (TRACKING_SECRET,),
    *,
    check_env: str | None = None,
    branch: str = "main",
    python: str = "3.11",
    install: str | None = None,
    schedule: str | None = None,
    signing_key: str | None = None,
) -> Settings:
    """Settings with the environments chosen by convention and every value checked:
    the PR checks ``staging`` (else the first environment), drift is watched in
    ``production`` (else the last) and retraining goes to ``staging`` (else the first)."""
    names = list(environments)
    if check_env is not None and check_env not in environments:
        known = ", ".join(names) or "none"
        raise InputError(f"--check-env {check_env}: no such environment (environments: {known})")
    defaults = Settings()
    chosen = Settings(
        models=tuple(models),
        environments=dict(environments),
        secrets=tuple(dict.fromkeys(secrets)),
        branch=branch,
        python=python,
        install=install or defaults.install,
        check_env=check_env or _pick(names, "staging", 0),
        monitor_env=_pick(names, "production", -1),
        retrain_env=_pick(names, "staging", 0),
        schedule=schedule or defaults.schedule,
        signing_key=signing_key or defaults.signing_key,
    )
    _check(chosen)
    return chosen


def _pick(names: Sequence[str], preferred: str, fallback: int) -> str | None:
    if preferred in names:
        return preferred
    return names[fallback] if names else None


def _check(s: Settings) -> None:
    for name in (*s.models, *s.environments):
        if not _NAME.fullmatch(name) or "//" in name:
            raise InputError(f"{name!r} cannot be used in a tag pattern (letters, digits, -_/)")
    if not _BRANCH.fullmatch(s.branch) or ".." in s.branch:
        raise InputError(f"--branch {s.branch!r} is not a branch name")
    if not _PYTHON.fullmatch(s.python):
        raise InputError(f"--python {s.python!r} is not a Python version such as 3.11")
    if not s.install.strip() or "\n" in s.install:
        raise InputError("--install must be one pip requirement or path")
    fields = s.schedule.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise InputError(f"--schedule {s.schedule!r} is not a cron line of five fields")
    if not _NAME.fullmatch(s.signing_key):
        raise InputError(f"signing key name {s.signing_key!r} is not usable as a file name")


def render(provider: str, s: Settings) -> dict[str, str]:
    """The files of ``provider`` (workspace-relative path -> text)."""
    if provider == "github":
        return github(s)
    if provider == "gitlab":
        return {GITLAB_FILE: gitlab(s)}
    raise InputError(f"--provider must be one of {', '.join(PROVIDERS)}, not {provider!r}")


def purposes(provider: str) -> dict[str, str]:
    """What each file of ``provider`` does, for ``ci init`` to print."""
    if provider == "gitlab":
        return {GITLAB_FILE: "merge requests, the default branch, NAME#ENV#N tags, schedules"}
    return {
        PR_FILE: "pull requests: pull, run, report (posted as a comment), check",
        REGISTER_FILE: "the default branch: register each model, push its tag",
        DEPLOY_FILE: "a tag NAME#ENV#N: deploy NAME to ENV",
        MONITOR_FILE: "a schedule: monitor drift, then retrain on drift",
    }


def variables(provider: str, s: Settings) -> list[str]:
    """Every secret (GitHub) or CI/CD variable (GitLab) the files may read."""
    found = [*s.secrets]
    if s.models:
        found += [SIGNING_SECRET]
        found += [SERVE_SECRET] if s.environments else []
    if provider == "github":
        found += list(_kube(s)) if s.models else []
    else:
        found += [GITLAB_NOTE_TOKEN] + ([GITLAB_PUSH_TOKEN] if s.models else [])
    return found


def write(root: Path, files: Mapping[str, str], *, force: bool = False) -> list[str]:
    """Write every file, or none: without ``force`` an existing one is refused by name."""
    if not force:
        for path in files:
            if (root / path).exists():
                raise InputError(f"{path} exists already; pass --force to overwrite it")
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        fs.atomic_write_text(target, text)
    return list(files)


# --- tag patterns ------------------------------------------------------------------------


def tag_glob(model: str, env: str) -> str:
    """GitHub's ``on.push.tags`` filter for ``NAME#ENV#N`` (``#`` is no glob character;
    ``*`` stops at ``/``, which only the model name may hold, literally)."""
    return f"{model}#{env}#*"


def tag_regex(model: str, env: str) -> str:
    """GitLab's ``$CI_COMMIT_TAG =~ /.../`` pattern for ``NAME#ENV#N``: the number only,
    so GTO's ``NAME#ENV!#N`` (an unassignment) never deploys."""
    return "^" + _regex_literal(model) + "#" + _regex_literal(env) + r"#[0-9]+$"


def _regex_literal(name: str) -> str:
    return name.replace("/", r"\/")  # the rest of a name is letters, digits, - and _


def _slug(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "-", p) for p in parts)


def _q(word: str) -> str:
    return shlex.quote(word)


# --- commands shared by both providers ------------------------------------------------------


def _register(model: str, push: bool) -> str:
    return f"lockstep model register {_q(model)} {'--push' if push else '--no-push'}"


def _check_cmd(model: str, env: str) -> str:
    return f"lockstep check {_q(model)} --env {_q(env)}"


def _deploy(model: str, env: str) -> str:
    return f"lockstep deploy {_q(model)} --env {_q(env)}"


def _drift_script(model: str, s: Settings) -> str:
    """``monitor drift``; exit code 1 (drift) starts ``monitor retrain``, other codes fail."""
    drift = f"lockstep monitor drift {_q(model)}"
    retrain = f"lockstep monitor retrain {_q(model)} --force --push"  # drift was just found
    if s.monitor_env:
        drift += f" --env {_q(s.monitor_env)}"
        retrain += f" --watch {_q(s.monitor_env)}"
    return (
        f"if {drift}; then\n"
        f'  echo "{model}: no drift"\n'
        "else\n"
        "  code=$?\n"
        '  if [ "$code" -ne 1 ]; then exit "$code"; fi\n'
        f"  {retrain}\n"
        "fi\n"
    )


def _signing_script(s: Settings, condition: bool) -> str:
    key = f".lockstep/keys/{s.signing_key}.key"
    write = (
        "mkdir -p -m 700 .lockstep/keys\n"
        f"(umask 077 && printf '%s\\n' \"${SIGNING_SECRET}\" > {key})\n"
    )
    if not condition:
        return write
    indented = "".join(f"  {line}\n" for line in write.splitlines())
    return f'if [ -n "${{{SIGNING_SECRET}:-}}" ]; then\n{indented}fi\n'


def _header(provider: str, what: str, reads: Sequence[str]) -> list[str]:
    lines = [
        f"Generated by `lockstep ci init --provider {provider}` (lockstep {__version__}): {what}.",
        "It runs lockstep commands only. Regenerate it with `lockstep ci init --provider "
        f"{provider} --force`",
        "after changing models or environments in lockstep.yaml; see docs/ci.md.",
    ]
    if reads:
        kind = "Secrets" if provider == "github" else "CI/CD variables"
        lines.append(f"{kind} it reads (each optional): {', '.join(reads)}.")
    return lines


# --- YAML -----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Block style, lists indented under their key, no anchors, scripts as ``|`` blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(data: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    body = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
        allow_unicode=True,
    )
    comments = "".join(f"# {line}\n" for line in header)
    return comments + ("\n" if comments else "") + body


# --- GitHub Actions -------------------------------------------------------------------------

GH_IDENTITY = {  # registry tags are annotated: git needs a name, and it is the tag's actor
    "GIT_AUTHOR_NAME": "${{ github.actor }}",
    "GIT_AUTHOR_EMAIL": "${{ github.actor }}@users.noreply.github.com",
    "GIT_COMMITTER_NAME": "${{ github.actor }}",
    "GIT_COMMITTER_EMAIL": "${{ github.actor }}@users.noreply.github.com",
}
GH_COMMENT = (
    'gh pr comment "$PR" --edit-last --body-file report.md 2>/dev/null \\\n'
    '  || gh pr comment "$PR" --body-file report.md\n'
)
PR_FILE = f"{GITHUB_DIR}/lockstep-pull-request.yml"
REGISTER_FILE = f"{GITHUB_DIR}/lockstep-register.yml"
DEPLOY_FILE = f"{GITHUB_DIR}/lockstep-deploy.yml"
MONITOR_FILE = f"{GITHUB_DIR}/lockstep-monitor.yml"


def github(s: Settings) -> dict[str, str]:
    """One workflow per moment; without models only the pull-request one."""
    files = {PR_FILE: _gh_file("pull request: pull, run, check, report", _gh_pr(s), s.secrets)}
    if not s.models:
        return files
    signed = (*s.secrets, SIGNING_SECRET)
    files[REGISTER_FILE] = _gh_file(f"on {s.branch}: register each model", _gh_register(s), signed)
    if s.environments:
        reads = (*s.secrets, SERVE_SECRET, *_kube(s))
        files[DEPLOY_FILE] = _gh_file("on a tag NAME#ENV#N: deploy", _gh_deploy(s), reads)
    files[MONITOR_FILE] = _gh_file("on a schedule: drift, then retrain", _gh_monitor(s), signed)
    return files


def _kube(s: Settings) -> tuple[str, ...]:
    return (KUBE_SECRET,) if "kubernetes" in s.environments.values() else ()


def _gh_file(what: str, data: Mapping[str, Any], reads: Sequence[str]) -> str:
    return dump(data, _header("github", what, reads))


def _gh_env(names: Iterable[str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {name: f"${{{{ secrets.{name} }}}}" for name in names}
    return {**env, **(extra or {})}


def _gh_setup(s: Settings, *, keep_token: bool = True) -> list[dict[str, Any]]:
    """Checkout, Python, lockstep. ``keep_token=False`` for jobs that run the pull
    request's code: the job's token must not stay readable in .git/config."""
    checkout: dict[str, Any] = {"fetch-depth": 0}
    if not keep_token:
        checkout["persist-credentials"] = False
    return [
        {
            "name": "Check out the whole history and every tag (the registry lives in tags)",
            "uses": "actions/checkout@v4",
            "with": checkout,
        },
        {
            "name": "Set up Python",
            "uses": "actions/setup-python@v5",
            "with": {"python-version": s.python},
        },
        _run("Install lockstep", f"pip install {_q(s.install)}"),
    ]


def _run(name: str, script: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "run": script, **more}


def _gh_signing(s: Settings) -> dict[str, Any]:
    return _run(
        f"Signing key from the {SIGNING_SECRET} secret (registrations are signed when set)",
        _signing_script(s, condition=False),
        **{"if": f"env.{SIGNING_SECRET} != ''"},
    )


def _gh_pr(s: Settings) -> dict[str, Any]:
    steps = [
        *_gh_setup(s, keep_token=False),
        _run("Pull the data and the pipeline's outputs", "lockstep pull"),
        _run("Run the pipeline (only the stages whose inputs changed)", "lockstep run"),
        *(
            _run(
                f"Register {m} in this job only, for the gates (nothing is pushed)",
                _register(m, push=False),
            )
            for m in s.models
        ),
        _run(
            "Report: metrics and params against the base branch, gates, plots",
            f'lockstep report --vs "origin/$BASE_REF" --out {REPORT}',
            env={"BASE_REF": "${{ github.base_ref }}"},
        ),
        {
            "name": "Keep the report and its plots",
            "uses": "actions/upload-artifact@v4",
            "with": {
                "name": "lockstep-report",
                "path": f"{REPORT}\n{REPORT_FILES}\n",
                "if-no-files-found": "ignore",
            },
        },
        _run(
            "Post the report on the pull request",
            GH_COMMENT,
            env={
                "GH_TOKEN": "${{ github.token }}",
                "GH_REPO": "${{ github.repository }}",
                "PR": "${{ github.event.pull_request.number }}",
            },
            **{"continue-on-error": True},  # a pull request from a fork has a read-only token
        ),
        *_gh_checks(s),
    ]
    job = {
        "name": "pull, run, check, report",
        "runs-on": "ubuntu-latest",
        "env": _gh_env(s.secrets, GH_IDENTITY),
        "steps": steps,
    }
    return {
        "name": "lockstep: pull request",
        "on": {"pull_request": {"branches": [s.branch]}},
        "permissions": {"contents": "read", "pull-requests": "write"},
        "concurrency": {
            "group": "lockstep-pr-${{ github.event.pull_request.number }}",
            "cancel-in-progress": True,
        },
        "jobs": {"lockstep": job},
    }


def _gh_checks(s: Settings) -> list[dict[str, Any]]:
    env = s.check_env
    if env is None:
        return []
    return [_run(f"Gates of {env} for {m}", _check_cmd(m, env)) for m in s.models]


def _gh_register(s: Settings) -> dict[str, Any]:
    trigger = {"push": {"branches": [s.branch], "paths": ["lockstep.lock", "**.lockstep"]}}
    body = [_run(f"Register {m} and push its tag", _register(m, push=True)) for m in s.models]
    push = _run("Push the new attestations' objects to the remote", "lockstep push")
    return _gh_registry_workflow(s, "register", "register", trigger, [*body, push])


def _gh_deploy(s: Settings) -> dict[str, Any]:
    jobs: dict[str, Any] = {}
    for model in s.models:
        for env, target in s.environments.items():
            jobs[_unique(jobs, _slug("deploy", model, env))] = _gh_deploy_job(s, model, env, target)
    tags = [tag_glob(m, e) for m in s.models for e in s.environments]
    return {
        "name": "lockstep: deploy",
        "on": {"push": {"tags": tags}},
        "permissions": {"contents": "read"},
        "jobs": jobs,
    }


def _unique(taken: Mapping[str, Any], name: str) -> str:
    found, n = name, 2
    while found in taken:
        found, n = f"{name}-{n}", n + 1
    return found


def _gh_deploy_job(s: Settings, model: str, env: str, target: str) -> dict[str, Any]:
    secrets = (*s.secrets, SERVE_SECRET, *((KUBE_SECRET,) if target == "kubernetes" else ()))
    steps = [*_gh_setup(s)]
    if target == "kubernetes":
        steps.append(
            _run(
                f"kubectl's context from the {KUBE_SECRET} secret",
                f'printf \'%s\\n\' "${KUBE_SECRET}" > "$RUNNER_TEMP/kubeconfig"\n'
                'echo "KUBECONFIG=$RUNNER_TEMP/kubeconfig" >> "$GITHUB_ENV"\n',
                **{"if": f"env.{KUBE_SECRET} != ''"},
            )
        )
    steps += [
        _run("Pull the data and the model", "lockstep pull"),
        _run(f"Deploy what {model}#{env} points to", _deploy(model, env)),
    ]
    return {
        "name": f"deploy {model} to {env}",
        "if": f"startsWith(github.ref, 'refs/tags/{model}#{env}#')",
        # a local target serves on the machine that runs deploy: a runner of your own
        "runs-on": "self-hosted" if target == "local" else "ubuntu-latest",
        "environment": env,
        "concurrency": {
            "group": f"lockstep-{_slug('deploy', model, env)}",
            "cancel-in-progress": False,
        },
        "env": _gh_env(secrets),
        "steps": steps,
    }


def _gh_monitor(s: Settings) -> dict[str, Any]:
    trigger = {"schedule": [{"cron": s.schedule}], "workflow_dispatch": {}}
    body = [_run(_drift_title(m, s), _drift_script(m, s)) for m in s.models]
    push = _run("Push what retraining made", "lockstep push")
    return _gh_registry_workflow(s, "monitor", "drift, then retrain", trigger, [*body, push])


def _gh_registry_workflow(
    s: Settings, job_id: str, title: str, trigger: dict[str, Any], body: list[dict[str, Any]]
) -> dict[str, Any]:
    """A workflow whose one job writes to the registry: it may sign, it pulls, runs
    ``body``, and shares one concurrency group with every other registry writer."""
    job = {
        "name": title,
        "runs-on": "ubuntu-latest",
        "env": _gh_env((*s.secrets, SIGNING_SECRET), GH_IDENTITY),
        "steps": [
            *_gh_setup(s),
            _gh_signing(s),
            _run("Pull the data and the pipeline's outputs", "lockstep pull"),
            *body,
        ],
    }
    return {
        "name": f"lockstep: {job_id}",
        "on": trigger,
        "permissions": {"contents": "write"},
        "concurrency": {"group": "lockstep-registry", "cancel-in-progress": False},
        "jobs": {job_id: job},
    }


def _drift_title(model: str, s: Settings) -> str:
    where = f" in {s.monitor_env}" if s.monitor_env else ""
    into = f" for {s.retrain_env}" if s.retrain_env else ""
    return f"Drift of {model}{where}; retrain{into} when it drifted"


# --- GitLab CI ------------------------------------------------------------------------------

GL_TARGET = "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME"
GL_FETCH_TARGET = (
    f'git fetch --quiet origin "+refs/heads/{GL_TARGET}:refs/remotes/origin/{GL_TARGET}"'
)
GL_COMMENT = (
    f'if [ -n "${{{GITLAB_NOTE_TOKEN}:-}}" ]; then\n'
    "  curl --fail --silent --show-error --output /dev/null --request POST \\\n"
    f'    --header "PRIVATE-TOKEN: ${GITLAB_NOTE_TOKEN}" \\\n'
    f'    --data-urlencode "body@{REPORT}" \\\n'
    '    "$CI_API_V4_URL/projects/$CI_PROJECT_ID/merge_requests/$CI_MERGE_REQUEST_IID/notes"\n'
    "else\n"
    f'  echo "{GITLAB_NOTE_TOKEN} is not set: the report is in the job\'s artifacts only"\n'
    "fi\n"
)
GL_PUSH_ACCESS = (
    f'if [ -n "${{{GITLAB_PUSH_TOKEN}:-}}" ]; then\n'
    "  git remote set-url --push origin \\\n"
    f'    "$CI_SERVER_PROTOCOL://lockstep-ci:${GITLAB_PUSH_TOKEN}@$CI_SERVER_HOST:'
    '$CI_SERVER_PORT/$CI_PROJECT_PATH.git"\n'
    "fi\n"
)
GL_IDENTITY = {
    "GIT_AUTHOR_NAME": "$GITLAB_USER_NAME",
    "GIT_AUTHOR_EMAIL": "$GITLAB_USER_EMAIL",
    "GIT_COMMITTER_NAME": "$GITLAB_USER_NAME",
    "GIT_COMMITTER_EMAIL": "$GITLAB_USER_EMAIL",
}


def gitlab(s: Settings) -> str:
    data: dict[str, Any] = {
        "stages": ["check", "register", "deploy", "monitor"],
        "variables": {
            "GIT_STRATEGY": "clone",  # fresh tags every job: the registry lives in tags
            "GIT_DEPTH": "0",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            **GL_IDENTITY,
        },
        "default": {
            "image": f"python:{s.python}",
            "before_script": [
                f"pip install --quiet {_q(s.install)}",
                "git fetch --quiet --force --tags origin",
            ],
        },
        "lockstep-merge-request": _gl_merge_request(s),
    }
    if s.models:
        data["lockstep-register"] = _gl_register(s)
        for model in s.models:
            for env, target in s.environments.items():
                name = _unique(data, _slug("lockstep-deploy", model, env))
                data[name] = _gl_deploy(model, env, target)
        data["lockstep-monitor"] = _gl_monitor(s)
    reads = variables("gitlab", s)
    return dump(data, _header("gitlab", "merge requests, default branch, tags, schedules", reads))


def _gl_merge_request(s: Settings) -> dict[str, Any]:
    script = [
        GL_FETCH_TARGET,
        "lockstep pull",
        "lockstep run",
        *(_register(m, push=False) for m in s.models),
        f'lockstep report --vs "origin/{GL_TARGET}" --out {REPORT}',
        GL_COMMENT,
        *(_check_cmd(m, s.check_env) for m in s.models if s.check_env is not None),
    ]
    return {
        "stage": "check",
        "rules": [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}],
        "interruptible": True,
        "script": script,
        "artifacts": {
            "when": "always",
            "expose_as": "lockstep report",
            "paths": [REPORT, REPORT_FILES],
        },
    }


def _gl_register(s: Settings) -> dict[str, Any]:
    rule = {
        "if": '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH',
        "changes": ["lockstep.lock", "**/*.lockstep"],
    }
    return _gl_registry_job(s, "register", rule, [_register(m, push=True) for m in s.models])


def _gl_deploy(model: str, env: str, target: str) -> dict[str, Any]:
    job: dict[str, Any] = {
        "stage": "deploy",
        "rules": [{"if": f"$CI_COMMIT_TAG =~ /{tag_regex(model, env)}/"}],
        "environment": {"name": env},
        "resource_group": f"lockstep-{_slug('deploy', model, env)}",
        "script": ["lockstep pull", _deploy(model, env)],
    }
    if target == "local":  # serves on the machine that runs deploy: your own runner
        job["tags"] = [f"lockstep-{env}"]
    return job


def _gl_monitor(s: Settings) -> dict[str, Any]:
    rule = {"if": '$CI_PIPELINE_SOURCE == "schedule"'}
    return _gl_registry_job(s, "monitor", rule, [_drift_script(m, s) for m in s.models])


def _gl_registry_job(
    s: Settings, stage: str, rule: dict[str, Any], body: list[str]
) -> dict[str, Any]:
    """A job that writes to the registry: push access, signing, pull, ``body``, push."""
    return {
        "stage": stage,
        "rules": [rule],
        "resource_group": "lockstep-registry",
        "script": [
            GL_PUSH_ACCESS,
            _signing_script(s, condition=True),
            "lockstep pull",
            *body,
            "lockstep push",
        ],
    }
