"""The model server: flavors, payload codecs, adaptive batching, metrics, the inference
log and the FastAPI app. Only this package (and ui/) imports FastAPI; the CLI starts it
through :func:`lockstep.serving.runner.serve` after the project layer has verified the
model's bytes."""
