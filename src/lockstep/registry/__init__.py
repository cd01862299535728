"""The model registry: versions and environment assignments as Git tags (GTO's
conventions), promotion behind gates, rollback and history."""
