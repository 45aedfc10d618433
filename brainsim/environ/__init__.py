"""Simulation settings: the time step ``dt``, the loop clock ``t``, ``i``, CPU threads and SIMD
width."""

from ._environ import context, get, get_dt, get_i, get_t, set, signature
from ._simd import get_cpu_vector_width, set_cpu_vector_width
from ._threads import get_cpu_threads, set_cpu_threads

__all__ = ["set", "context", "get", "get_dt", "get_t", "get_i", "signature", "set_cpu_threads",
           "get_cpu_threads", "set_cpu_vector_width", "get_cpu_vector_width"]
