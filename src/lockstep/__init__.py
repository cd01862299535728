"""lockstep: one supply chain for code, data and models in a plain Git repository."""

__version__ = "0.1.0"

__all__ = ["__version__"]
