"""The number of threads XLA uses for one CPU program (a process-wide, start-up setting)."""

from __future__ import annotations

import os

__all__ = ["set_cpu_threads"]

# XLA's CPU client sizes its intra-op thread pool from this variable when it starts (and
# falls back to the cores this process may run on). The pool runs the split halves of
# large loop fusions and the Eigen matmuls; the compiler splits a fusion over at most that
# many threads. No XLA_FLAGS entry sets it.
_VAR = "PJRT_NPROC"


def _backend_started() -> bool:
    from jax._src import xla_bridge
    started = getattr(xla_bridge, "backends_are_initialized", None)
    if started is not None:
        return bool(started())
    return bool(getattr(xla_bridge, "_backends", {}))


def set_cpu_threads(n: int) -> None:
    """Run each compiled CPU program on at most ``n`` threads.

    XLA:CPU splits a large elementwise fusion over its thread pool. For a network of a
    few thousand neurons a split costs more than it saves: at 4,000 COBA neurons on
    2 cores a step takes 14 µs with the default pool and 8.4 µs with one thread.
    Larger batched matmuls (training) gain from more threads.

    A split divides the elements, not the arithmetic, so the COBA example's spikes are
    the same bit for bit with 1 and 2 threads. It can still move an element between the
    vectorised loop and its scalar tail, whose last bit may differ: of a 1,000,000-element
    ``jnp.linspace``, 14 elements differ by one ulp between 1 and 2 threads.

    It must be called before JAX starts its CPU backend, i.e. before the first array is
    made or function compiled in this process; it sets the ``PJRT_NPROC`` environment
    variable that the backend reads then (so child processes inherit it).

    Parameters
    ----------
    n : int
        Threads, at least 1.

    Raises
    ------
    TypeError
        If ``n`` is not an int.
    ValueError
        If ``n`` < 1, or the backend has already started with another setting (then
        nothing is changed).

    Examples
    --------
    >>> import brainsim
    >>> brainsim.environ.set_cpu_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: set_cpu_threads: n must be at least 1, got 0. How to fix: pass 1 for one thread per program, or the number of cores.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_cpu_threads: n must be an int (threads), got {n!r} "
                        f"({type(n).__name__}). How to fix: pass e.g. 1.")
    if n < 1:
        raise ValueError(f"set_cpu_threads: n must be at least 1, got {n}. How to fix: pass 1 "
                         "for one thread per program, or the number of cores.")
    if os.environ.get(_VAR) == str(n):
        return
    if _backend_started():
        now = os.environ.get(_VAR, "the cores available")
        raise ValueError(
            f"set_cpu_threads({n}): JAX's CPU backend has already started with "
            f"{_VAR}={now}, and its thread pool cannot be resized. How to fix: call "
            "brainsim.environ.set_cpu_threads before the first array or compiled function "
            f"of the process, or start Python with {_VAR}={n} in the environment.")
    os.environ[_VAR] = str(n)
