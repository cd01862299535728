"""``lockstep monitor drift | performance | retrain``: watch live traffic and close
the loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from lockstep.cli.app import JSON_OPTION, echo, emit_json, open_project
from lockstep.errors import CheckFailedError, DriftDetectedError, PerformanceDropError

monitor_app = typer.Typer(
    name="monitor",
    no_args_is_help=True,
    help="Drift of live traffic, performance once labels arrive, and retraining.",
)

ENV_HELP = "The environment whose traffic to judge (default: all traffic of the model)."


@monitor_app.command("drift")
def drift(
    name: str = typer.Argument(..., metavar="NAME", help="The registered model."),
    env: str = typer.Option(None, "--env", "-e", help=ENV_HELP),
    reference: str = typer.Option(
        None,
        "--reference",
        metavar="PATH",
        help="CSV or Parquet file or folder, local or an fsspec URL (default: the training "
        "data the version recorded).",
    ),
    current: str = typer.Option(
        None,
        "--current",
        metavar="PATH",
        help="CSV or Parquet file or folder (default: the environment's inference log).",
    ),
    window: str = typer.Option(
        None,
        "--window",
        metavar="DURATION",
        help="Only current rows this recent, such as 24h or 7d "
        "(default models.NAME.monitor.window, else 7d, for the inference log).",
    ),
    report: Path = typer.Option(
        None,
        "--report",
        metavar="FILE",
        help="Also write a report: FILE.html (self-contained, with histograms) or FILE.md "
        "(PNG plots beside it).",
    ),
    executor: str = typer.Option(
        "local", "--executor", help="local, or dask to spread the features over a cluster."
    ),
    dask_address: str = typer.Option(
        None, "--dask-address", help="A Dask scheduler (default [dask] address, else local)."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Compare live inputs with the training data, feature by feature.

    Numeric features: Kolmogorov-Smirnov, PSI and the Wasserstein distance
    normalised by the reference's spread; categorical ones: chi-squared and
    Jensen-Shannon; both: the missing-value rate. A feature drifts when an effect
    size passes its threshold and the test says it is no accident for these
    sample sizes. Thresholds: models.NAME.monitor in lockstep.yaml. Exit 1 when
    drift is found, naming the features.
    """
    from lockstep.project.monitor import Monitoring

    if executor not in ("local", "dask"):
        raise typer.BadParameter("must be local or dask", param_hint="--executor")
    project = open_project()
    run = Monitoring(project).drift(
        name,
        env=env,
        reference=reference,
        current=current,
        window=window,
        report=report,
        executor=executor,
        dask_address=dask_address or project.config.dask.address,
    )
    if json_output:
        emit_json(run.to_dict())
    else:
        _drift_table(run.to_dict())
    if run.drifted:
        raise DriftDetectedError(name, run.drifted_names)


def _drift_table(found: dict[str, Any]) -> None:
    where = f" in {found['env']}" if found["env"] else ""
    echo(f"{found['model']} v{found['version']}{where}")
    echo(f"  reference: {found['reference']}")
    echo(
        f"  current:   {found['current']}"
        + (f" (last {found['window']})" if found["window"] else "")
    )
    echo(f"  {'feature':24} {'kind':11} {'rows':>15}  verdict")
    for feature in found["features"]:
        rows = f"{feature.get('n_reference', '?')}/{feature.get('n_current', '?')}"
        verdict = (
            "DRIFT: " + "; ".join(feature.get("reasons") or []) if feature["drifted"] else "ok"
        )
        echo(f"  {feature['name'][:24]:24} {feature.get('kind', ''):11} {rows:>15}  {verdict}")
    for path in found.get("report") or []:
        echo(f"Report: {path}")


@monitor_app.command("performance")
def performance(
    name: str = typer.Argument(..., metavar="NAME", help="The registered model."),
    truth: str = typer.Option(
        ...,
        "--truth",
        metavar="PATH",
        help="Ground truth: CSV or Parquet with request_id, optional row, and label.",
    ),
    env: str = typer.Option(None, "--env", "-e", help=ENV_HELP),
    metric: str = typer.Option(
        "accuracy",
        "--metric",
        help="accuracy, f1, precision, recall, roc_auc; mae, rmse, r2 for regressors.",
    ),
    every: str = typer.Option("1d", "--every", help="The length of each period, such as 1h or 1d."),
    window: str = typer.Option(None, "--window", help="Only this recent, such as 30d."),
    max_drop: float = typer.Option(
        0.05, "--max-drop", help="Flag a period whose metric is this much worse than the baseline."
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """The model's metric over time, from its inference log joined to the labels.

    The baseline is the metric recorded at registration when there is one, else the
    first period with enough rows. Exit 1 when a period drops beyond --max-drop.
    """
    from lockstep.project.monitor import Monitoring

    found = Monitoring(open_project()).performance(
        name, truth, env=env, metric=metric, every=every, window=window, max_drop=max_drop
    )
    data = found.to_dict()
    if json_output:
        emit_json(data)
    else:
        _performance_table(data)
    if found.dropped:
        raise PerformanceDropError(f"{name}: {metric} dropped more than {max_drop} below baseline")


def _performance_table(data: dict[str, Any]) -> None:
    baseline = data.get("baseline")
    shown = f"{baseline:.4f}" if isinstance(baseline, int | float) else "none"
    echo(f"{data['metric']} (baseline {shown}; {data.get('joined', 0)} labelled rows)")
    for bucket in data.get("buckets", []):
        value = bucket.get("value")
        text = f"{value:.4f}" if isinstance(value, int | float) else "-"
        flag = "  DROP" if bucket.get("flagged") else ""
        echo(f"  {bucket['start']}  v{bucket.get('version')}  {bucket['rows']:>7}  {text}{flag}")


@monitor_app.command("retrain")
def retrain(
    name: str = typer.Argument(..., metavar="NAME", help="The registered model."),
    env: str = typer.Option(
        None, "--env", "-e", help="Where to promote the new version (default retrain.env: staging)."
    ),
    watch: str = typer.Option(
        None,
        "--watch",
        help="The environment whose traffic decides (default production if it runs a "
        "version, else --env).",
    ),
    force: bool = typer.Option(False, "--force", help="Retrain even without drift."),
    push: bool = typer.Option(
        False,
        "--push",
        help="Push the retrain commit (the current branch) and the new registry tags to "
        "[registry] remote, as a scheduled CI job must.",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """When drift is found (or --force): refresh the data, run the pipeline, register
    a new version, run the gates of --env and promote it when they pass.

    models.NAME.retrain in lockstep.yaml: 'command' brings fresh data in (tracked
    data it changes is added again), 'stages' what to run (default all), 'env'
    where to promote. The reason ("drift in mean radius: PSI 0.41 > 0.2") lands in
    the commit, the version's tag and the assignment: 'lockstep model history NAME'
    shows it. Exit 1 when the new version fails a gate.
    """
    from lockstep.project.monitor import Monitoring

    say = None if json_output else (lambda step: echo(f"  {step}"))
    done = Monitoring(open_project()).retrain(
        name, env=env, watch=watch, force=force, push=push, say=say
    )
    if json_output:
        emit_json(done.to_dict())
    elif done.skipped:
        echo(f"{name}: {done.reason}; nothing to retrain (--force retrains anyway)")
    else:
        echo(f"{name}: {done.reason}")
    if not done.skipped and not done.promoted:
        failed = done.promotion.failed if done.promotion else []
        raise CheckFailedError(
            f"{done.version.ref if done.version else name} did not pass the gates: "
            + ", ".join(failed)
        )


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app)
