"""``brainsim.for_loop`` and ``brainsim.scan``: loops with states as the carry.

The body is traced once abstractly (``jax.eval_shape``) to learn which
states it writes; those become the ``lax.scan`` carry, and states it only
reads are closed over (see :mod:`._carry`). Inside the body the loop clock (``environ.get_i()``,
``environ.get_t()``) advances by itself.

The progress bar must not cost a host callback per step, so the loop is
split into an outer scan of about 100 chunks, each an inner scan, and only
the outer body calls back to the host.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ..environ import _environ
from ._carry import call_with_states, written_states
from ._progress import ProgressBar

__all__ = ["for_loop", "scan"]


def _length(xs: Any, length: int | None, where: str) -> int:
    leaves = jax.tree_util.tree_leaves(xs)
    lengths = {int(np.shape(x)[0]) for x in leaves if np.ndim(x) > 0}
    if any(np.ndim(x) == 0 for x in leaves):
        raise ValueError(
            f"{where}: every array in xs is sliced along axis 0 and needs at least one "
            "dimension; got a scalar. Pass scalars through a closure instead."
        )
    if len(lengths) > 1:
        raise ValueError(
            f"{where}: the arrays in xs have different leading lengths {sorted(lengths)}; "
            "they must all have the loop length along axis 0."
        )
    if lengths:
        n = lengths.pop()
        if length is not None and length != n:
            raise ValueError(f"{where}: length={length} but xs have leading length {n}.")
        return n
    if length is None:
        raise ValueError(f"{where}: give length=... when there are no xs to loop over.")
    if not isinstance(length, (int, np.integer)) or length < 0:
        raise ValueError(f"{where}: length must be a non-negative int, got {length!r}.")
    return int(length)


def _clock_values(i: Any) -> tuple[Any, Any]:
    dt = _environ.get("dt", None)
    t = None if dt is None else i * dt
    return i, t


def _stateful_scan(body: Callable, carry: Any, xs: Any, length: int, *, i0: int,
                   remat: bool, unroll: int, progress: bool | int, where: str):
    """Scan ``body(carry, x) -> (carry, y)`` with written states in the carry."""
    # 1. Discover the states the body writes, without running it.
    x0 = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x)[1:], x.dtype), xs)

    def probe(c: Any, x: Any):
        with _environ._clock(*_clock_values(jnp.asarray(i0, jnp.int32))):
            return body(c, x)

    written = written_states([probe], carry, x0)
    # The carry must start from the values the enclosing trace sees.
    # (Reads made by the probe were already recorded by any enclosing trace.)
    init_vals = [s.value for s in written]

    def step(loop_carry: Any, x: Any):
        (c, vals), i = loop_carry
        with _environ._clock(*_clock_values(i)):
            (c, y), vals = call_with_states(body, written, vals, c, x, where=where)
        return ((c, vals), i + 1), y

    if remat:
        step = jax.checkpoint(step)
    init = ((carry, init_vals), jnp.asarray(i0, jnp.int32))

    every = 0
    if isinstance(progress, ProgressBar):
        every = max(1, length // 100)
    elif progress:
        every = int(progress) if not isinstance(progress, bool) else max(1, length // 100)
    if not every or length == 0:
        ((carry, vals), _), ys = jax.lax.scan(step, init, xs, length=length, unroll=unroll)
    else:
        bar = progress if isinstance(progress, ProgressBar) else ProgressBar(
            length, start=i0, desc=where)
        ((carry, vals), _), ys = _chunked_scan(step, init, xs, length, every, unroll, bar)
    for s, v in zip(written, vals):
        s.value = v
    return carry, ys


def _chunked_scan(step: Callable, init: Any, xs: Any, length: int, every: int, unroll: int,
                  bar: ProgressBar):
    n_chunks, rest = divmod(length, every)

    def head(x: Any) -> Any:
        return x[: n_chunks * every].reshape((n_chunks, every) + x.shape[1:])

    def chunk(c: Any, x: Any):
        c, y = jax.lax.scan(step, c, x, length=every, unroll=unroll)
        jax.debug.callback(bar.update, c[1], ordered=True)
        return c, y

    carry, ys = jax.lax.scan(chunk, init, jax.tree_util.tree_map(head, xs), length=n_chunks)
    ys = jax.tree_util.tree_map(lambda y: y.reshape((n_chunks * every,) + y.shape[2:]), ys)
    if rest:
        tail = jax.tree_util.tree_map(lambda x: x[n_chunks * every:], xs)
        carry, ys_rest = jax.lax.scan(step, carry, tail, length=rest, unroll=unroll)
        jax.debug.callback(bar.update, carry[1], ordered=True)
        ys = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a, b]), ys, ys_rest)
    return carry, ys


def for_loop(fn: Callable, *xs: Any, length: int | None = None, i0: int = 0,
             remat: bool = False, unroll: int = 1,
             progress: bool | int | ProgressBar = False) -> Any:
    """Call ``fn(*x)`` for each slice ``x`` of ``xs`` along axis 0; stack the results.

    States the body writes are carried through ``jax.lax.scan``; inside the
    body :func:`brainsim.environ.get_i` is the step index and
    :func:`brainsim.environ.get_t` the time ``i * dt``.

    Parameters
    ----------
    fn : callable
        The loop body. Its return values are stacked along a new axis 0.
    *xs : arrays or pytrees
        Sliced along axis 0, one slice per step.
    length : int, optional
        The number of steps when there are no ``xs``.
    i0 : int
        The step index of the first iteration (the clock starts at ``i0 * dt``).
    remat : bool
        Rematerialise the body in the backward pass (less memory for BPTT).
    unroll : int
        Passed to ``lax.scan``.
    progress : bool, int or ProgressBar
        Show a progress bar; an int gives the number of steps between updates,
        a :class:`~brainsim.transforms.ProgressBar` sets its label and scale.
        The bar costs one host callback per update (about 100 per run), not
        one per step.

    Returns
    -------
    pytree
        ``fn``'s outputs stacked along axis 0.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> total = brainsim.State(jnp.zeros(()))
    >>> def body(x):
    ...     total.value = total.value + x
    ...     return total.value
    >>> brainsim.for_loop(body, jnp.arange(4.)).tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    n = _length(xs, length, "for_loop")

    def body(carry: Any, x: Any):
        return carry, fn(*x)

    _, ys = _stateful_scan(body, None, xs, n, i0=i0, remat=remat, unroll=unroll,
                           progress=progress, where="for_loop")
    return ys


def scan(fn: Callable, init: Any, xs: Any = None, length: int | None = None, i0: int = 0,
         remat: bool = False, unroll: int = 1,
         progress: bool | int | ProgressBar = False) -> tuple[Any, Any]:
    """``jax.lax.scan`` for stateful functions: ``fn(carry, x) -> (carry, y)``.

    Same options as :func:`for_loop`; returns ``(final_carry, stacked_ys)``.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> c, ys = brainsim.scan(lambda c, x: (c + x, c), 0., jnp.arange(3.))
    >>> float(c), ys.tolist()
    (3.0, [0.0, 0.0, 1.0])
    """
    n = _length(xs, length, "scan")
    return _stateful_scan(fn, init, xs, n, i0=i0, remat=remat, unroll=unroll,
                          progress=progress, where="scan")
