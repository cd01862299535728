"""Deployment of registered model versions: an environment's ``target`` in
``lockstep.yaml`` (local, container or kubernetes) decides how a version is served.
The modules here turn a release (model, version, digest, environment) into what a
target needs (processes on this machine, a container build context, Kubernetes
manifests) and hand it to the tool that runs it; every server they start checks
the model's digest before it loads a byte of it.
"""
