"""``brainsim.cond``, ``switch``, ``while_loop`` and ``fori_loop``: JAX control
flow whose branches and bodies may read and write states.

Same signatures as in ``jax.lax``. The states the branches (or the loop body)
write are found by tracing them abstractly and become extra operands and
results of the primitive (the loop carry), exactly as in
:func:`brainsim.for_loop` (see :mod:`._carry`); a state written in one branch
only is passed through unchanged by the others. States that are only read
are closed over. They work eagerly and inside every brainsim transform; a
batched predicate under :func:`brainsim.vmap` runs both branches and selects,
as in JAX.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from .._errors import TraceContextError
from .._state import State
from ._carry import call_with_states, written_states

__all__ = ["cond", "switch", "while_loop", "fori_loop"]


def _write_back(states: list[State], values: list[Any]) -> None:
    for s, v in zip(states, values):
        s.value = v


def _branches(fns: Sequence[Callable], operands: tuple, where: str):
    """The written states, their current values, and the branches as pure functions."""
    for k, fn in enumerate(fns):
        if not callable(fn):
            raise TypeError(f"{where}: branch {k} must be callable, got {type(fn).__name__}.")
    states = written_states(fns, *operands)
    init = [s.value for s in states]

    def pure(fn: Callable) -> Callable:
        def branch(vals: list, *ops: Any):
            return call_with_states(fn, states, vals, *ops, where=where)
        return branch

    return states, init, [pure(fn) for fn in fns]


def cond(pred: Any, true_fun: Callable, false_fun: Callable, *operands: Any) -> Any:
    """``jax.lax.cond`` whose branches may read and write states.

    Parameters
    ----------
    pred : bool scalar
        Which branch to run. Under :func:`brainsim.vmap` it may differ per
        lane; then both branches run and each lane keeps its own result.
    true_fun, false_fun : callable
        ``fun(*operands)``; both must return the same structure, shapes and
        dtypes. A state written by either is written by the call (the other
        branch leaves it as it was).
    *operands
        Passed to the branch.

    Returns
    -------
    pytree
        The chosen branch's result.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> v = brainsim.State(jnp.array(0.5))
    >>> def spike():
    ...     v.value = jnp.zeros(())          # reset
    ...     return True
    >>> def integrate():
    ...     v.value = v.value + 0.3
    ...     return False
    >>> step = brainsim.jit(lambda: brainsim.cond(v.value > 0.7, spike, integrate))
    >>> [bool(step()) for _ in range(3)], round(float(v.value), 6)
    ([False, True, False], 0.3)
    """
    states, init, (t, f) = _branches([true_fun, false_fun], operands, "brainsim.cond")
    out, new = jax.lax.cond(pred, t, f, init, *operands)
    _write_back(states, new)
    return out


def switch(index: Any, branches: Sequence[Callable], *operands: Any) -> Any:
    """``jax.lax.switch`` whose branches may read and write states.

    Parameters
    ----------
    index : int scalar
        The branch to run, clamped to ``[0, len(branches) - 1]`` as in JAX.
    branches : sequence of callable
        ``fun(*operands)``, all with results of the same structure, shapes
        and dtypes. A state written by any branch is written by the call.
    *operands
        Passed to the branch.

    Returns
    -------
    pytree
        The chosen branch's result.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> s = brainsim.State(jnp.array(1.0))
    >>> def add(x): s.value = s.value + x
    >>> def mul(x): s.value = s.value * x
    >>> brainsim.switch(1, [add, mul], 3.0)
    >>> brainsim.switch(0, [add, mul], 3.0)
    >>> float(s.value)
    6.0
    """
    branches = list(branches)
    if not branches:
        raise ValueError("brainsim.switch: branches is empty; give at least one function.")
    states, init, pure = _branches(branches, operands, "brainsim.switch")
    out, new = jax.lax.switch(index, pure, init, *operands)
    _write_back(states, new)
    return out


def _loop_states(body: Callable, cond_fun: Callable | None, args: tuple, where: str):
    states = written_states([body], *args)
    if cond_fun is not None:
        bad = written_states([cond_fun], args[-1])
        if bad:
            raise TraceContextError(
                f"{where}: cond_fun wrote state(s) {[s.path for s in bad]}; it may only read "
                "states. How to fix: write them in body_fun."
            )
    return states, [s.value for s in states]


def while_loop(cond_fun: Callable, body_fun: Callable, init_val: Any) -> Any:
    """``jax.lax.while_loop`` whose body may read and write states.

    The states ``body_fun`` writes are part of the loop carry, so
    ``cond_fun`` sees their current values. Like its JAX counterpart it is
    not reverse-differentiable (use :func:`fori_loop` with static bounds).

    Parameters
    ----------
    cond_fun : callable
        ``cond_fun(val) -> bool scalar``; may read states, not write them.
    body_fun : callable
        ``body_fun(val) -> val``, with the same structure, shapes, dtypes.
    init_val : pytree
        The initial loop value.

    Returns
    -------
    pytree
        The final loop value.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> total = brainsim.State(jnp.array(0))
    >>> def body(i):
    ...     total.value = total.value + i
    ...     return i + 1
    >>> int(brainsim.while_loop(lambda i: total.value < 10, body, 0)), int(total.value)
    (5, 10)
    """
    where = "brainsim.while_loop"
    if not (callable(cond_fun) and callable(body_fun)):
        raise TypeError(f"{where}: cond_fun and body_fun must be callable.")
    states, init = _loop_states(body_fun, cond_fun, (init_val,), where)

    def c(carry: Any):
        val, vals = carry
        out, _ = call_with_states(cond_fun, states, vals, val, where=where)
        return out

    def b(carry: Any):
        val, vals = carry
        return call_with_states(body_fun, states, vals, val, where=where)

    val, new = jax.lax.while_loop(c, b, (init_val, init))
    _write_back(states, new)
    return val


def fori_loop(lower: Any, upper: Any, body_fun: Callable, init_val: Any, *,
              unroll: int | bool | None = None) -> Any:
    """``jax.lax.fori_loop`` whose body may read and write states.

    With Python ``int`` bounds it runs as a ``scan`` and is reverse
    differentiable (:func:`brainsim.grad`), as in JAX.

    Parameters
    ----------
    lower, upper : int scalar
        The loop runs ``body_fun(i, val)`` for ``i`` in ``[lower, upper)``.
    body_fun : callable
        ``body_fun(i, val) -> val``; the states it writes are carried.
    init_val : pytree
        The initial loop value.
    unroll : int or bool, optional
        Passed to ``jax.lax.fori_loop``.

    Returns
    -------
    pytree
        The final loop value.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> trace = brainsim.State(jnp.zeros(4))
    >>> def body(i, x):
    ...     trace.value = trace.value.at[i].set(x)
    ...     return x * 2
    >>> float(brainsim.fori_loop(0, 4, body, 1.0)), trace.value.tolist()
    (16.0, [1.0, 2.0, 4.0, 8.0])
    """
    where = "brainsim.fori_loop"
    if not callable(body_fun):
        raise TypeError(f"{where}: body_fun must be callable, got {type(body_fun).__name__}.")
    index = jax.ShapeDtypeStruct((), jnp.result_type(lower, upper))
    states, init = _loop_states(body_fun, None, (index, init_val), where)

    def b(i: Any, carry: Any):
        val, vals = carry
        return call_with_states(body_fun, states, vals, i, val, where=where)

    val, new = jax.lax.fori_loop(lower, upper, b, (init_val, init), unroll=unroll)
    _write_back(states, new)
    return val
