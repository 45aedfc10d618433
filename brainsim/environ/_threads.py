"""The number of threads XLA uses for one CPU program (a process-wide, start-up setting)."""

from __future__ import annotations

import os

from .._checks import check_int

__all__ = ["set_cpu_threads", "get_cpu_threads"]

# XLA's CPU client sizes its intra-op thread pool from PJRT_NPROC (else NPROC) when it starts,
# and falls back to the cores this process may run on. The pool runs the split parts of large
# loop fusions and the Eigen matmuls; the compiler splits a fusion over at most that many
# threads. No XLA_FLAGS entry sets it.
_VAR = "PJRT_NPROC"
_FALLBACK = "NPROC"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        return os.cpu_count() or 1


def get_cpu_threads() -> int:
    """The size of XLA's CPU thread pool: what the backend has, or will have when it starts.

    Read from the environment as the backend reads it: ``PJRT_NPROC``, else ``NPROC``, else
    the cores this process may run on.

    Examples
    --------
    >>> import brainsim
    >>> brainsim.environ.get_cpu_threads() >= 1
    True
    """
    for var in (_VAR, _FALLBACK):
        text = os.environ.get(var)
        if text:
            try:
                return max(1, int(text))
            except ValueError:
                continue
    return _cores()


def _backend_started() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:             # a JAX without this private module: assume not started
        return False
    started = getattr(xla_bridge, "backends_are_initialized", None)
    if started is not None:
        return bool(started())
    return bool(getattr(xla_bridge, "_backends", {}))


def set_cpu_threads(n: int) -> None:
    """Run each compiled CPU program on at most ``n`` threads.

    XLA:CPU splits a large elementwise fusion over its thread pool. For a network of a
    few thousand neurons a split costs more than it saves: at 4,000 COBA neurons on a
    2-core machine (the Dec 4 VM of ``benchmarks/RESULTS.md``) a step takes 14 µs with
    the default pool and 8.4 µs with one thread. Larger batched matmuls (training) gain
    from more threads.

    A split moves some elements from a vectorised loop to its scalar tail, where an
    operation may round differently in the last bit: of a 1,000,000-element
    ``jnp.linspace``, 14 elements differ by one ulp between 1 and 2 threads. The COBA
    example's spikes are the same bit for bit with 1 and 2 threads (tested), but a
    bit-exact comparison across thread counts is to be checked, not assumed.

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
        If ``n`` is not an integer.
    ValueError
        If ``n`` < 1, or the backend has already started with another pool size (then
        nothing is changed).

    Examples
    --------
    >>> import brainsim
    >>> brainsim.environ.set_cpu_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: set_cpu_threads: n must be at least 1, got 0. How to fix: pass 1 for one thread per program, or the number of cores.
    """
    n = check_int("set_cpu_threads", "n", n, "an int (threads)", "1")
    if n < 1:
        raise ValueError(f"set_cpu_threads: n must be at least 1, got {n}. How to fix: pass 1 "
                         "for one thread per program, or the number of cores.")
    if not _backend_started():
        os.environ[_VAR] = str(n)
        return
    now = get_cpu_threads()
    if now != n:
        raise ValueError(
            f"set_cpu_threads({n}): JAX's CPU backend has already started with a pool of "
            f"{now} thread(s), and it cannot be resized. How to fix: call "
            "brainsim.environ.set_cpu_threads before the first array or compiled function "
            f"of the process, or start Python with {_VAR}={n} in the environment.")
