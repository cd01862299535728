"""One module per schema revision, applied in order, each in its own transaction."""
