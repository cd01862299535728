"""The supply chain of a model file: is it safe to load (``scan``), and later who
made it and from what (signatures, attestations, bills of materials)."""
