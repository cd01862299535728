"""The artifact store: content-addressed objects, trees, pointers, state, remotes.

The store knows nothing of pipelines, models or Git; it is given pointers and
paths and answers with values.
"""
