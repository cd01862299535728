"""Gates: named checks an environment runs before a version is promoted to it."""

from lockstep.registry.gates.base import GateContext, Verdict, run_gates

__all__ = ["GateContext", "Verdict", "run_gates"]
