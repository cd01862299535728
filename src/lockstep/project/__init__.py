"""The facade: a lockstep workspace built from its configuration (see core.py); the
model registry's side of it is in models.py."""

from lockstep.project.core import PROJECT_TEMPLATE, Project, PullResult

__all__ = ["PROJECT_TEMPLATE", "Project", "PullResult"]
