"""Pipelines: stages declared in lockstep.yaml, run only when their inputs change."""
