"""CI integration: workflow files that call only lockstep commands, and the report a
pull request gets.

- :mod:`lockstep.ci.workflows` turns a :class:`~lockstep.ci.workflows.Settings` (the
  models and environments of ``lockstep.yaml``, the secrets the remotes need) into
  GitHub Actions workflows or a ``.gitlab-ci.yml``. The files are built as data and
  dumped with PyYAML, never assembled from text, so a model name or a ``#`` in a tag
  pattern can never break the YAML.
- :mod:`lockstep.ci.report` renders a :class:`~lockstep.ci.report.ReportData` (metrics
  and params diff, gate verdicts, a drift summary, plot files) as Markdown with PNG
  plots beside it (:mod:`lockstep.ci.plots`, matplotlib's Agg backend).
- :mod:`lockstep.ci.drift` reads the JSON that ``lockstep monitor drift --json`` prints.

This package sits beside ``serving`` and ``deploy``: it reads nothing from the
workspace itself. ``lockstep.project.report`` gathers the data from the workspace and
hands it here; the CLI (``lockstep ci init``, ``lockstep report``) is the shell.
"""
