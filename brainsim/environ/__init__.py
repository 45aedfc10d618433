"""Simulation settings: the time step ``dt`` and the loop clock ``t``, ``i``."""

from ._environ import context, get, get_dt, get_i, get_t, set, signature

__all__ = ["set", "context", "get", "get_dt", "get_t", "get_i", "signature"]
