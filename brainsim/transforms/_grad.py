"""``brainsim.grad`` and ``value_and_grad`` with respect to states and arguments.

The states to differentiate are swapped for JAX's traced values inside a
pure function. Any other state the function writes (hidden states updated
by a forward pass, the random key) is returned as auxiliary output and
written back, so a gradient step leaves the model exactly as the same
forward call would.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from .._state import State, StateTrace, states_of

__all__ = ["grad", "value_and_grad"]


def _value_and_grad(fn: Callable, grad_states: Any, argnums: int | Sequence[int] | None,
                    has_aux: bool, holomorphic: bool) -> Callable:
    if grad_states is None and argnums is None:
        argnums = 0
    if argnums is not None and not isinstance(argnums, (int, tuple, list)):
        raise TypeError(f"argnums must be an int or a tuple of ints, got {argnums!r}.")
    if isinstance(argnums, list):
        argnums = tuple(argnums)

    def wrapped(*args: Any, **kwargs: Any):
        if grad_states is not None:
            states, rebuild = states_of(grad_states)
        else:
            states, rebuild = [], None
        others: list[State] = []

        def pure(gvals: list, *dyn_args: Any):
            with StateTrace() as trace:
                trace.swap_in(states, gvals)
                res = fn(*dyn_args, **kwargs)
                gid = {id(s) for s in states}
                written = [s for s in trace.written_states() if id(s) not in gid]
                others[:] = written
                new_vals = [s._value for s in written]
                grad_new = [s._value if trace.was_written(s) else None for s in states]
            if has_aux:
                if not (isinstance(res, tuple) and len(res) == 2):
                    raise TypeError(
                        "With has_aux=True the function must return a pair (loss, aux); got "
                        f"{type(res).__name__}."
                    )
                loss, aux = res
            else:
                loss, aux = res, None
            return loss, (aux, new_vals, grad_new)

        if argnums is None:
            diff = (0,)
        elif isinstance(argnums, int):
            diff = (0, argnums + 1)
        else:
            diff = (0,) + tuple(a + 1 for a in argnums)
        gvals = [s.value for s in states]
        vg = jax.value_and_grad(pure, argnums=diff, has_aux=True, holomorphic=holomorphic)
        (loss, (aux, new_vals, grad_new)), grads = vg(gvals, *args)
        for s, v in zip(others, new_vals):
            s.value = v
        for s, v in zip(states, grad_new):
            if v is not None:
                s.value = v
        state_grads = rebuild(grads[0]) if rebuild is not None else None
        if argnums is None:
            g = state_grads
        else:
            arg_grads = grads[1] if isinstance(argnums, int) else tuple(grads[1:])
            g = arg_grads if grad_states is None else (state_grads, arg_grads)
        return (loss, aux), g

    return wrapped


def value_and_grad(fn: Callable, grad_states: Any = None,
                   argnums: int | Sequence[int] | None = None, has_aux: bool = False,
                   holomorphic: bool = False) -> Callable:
    """Like :func:`grad`, returning ``(value, grads)`` (``((value, aux), grads)``
    with ``has_aux``)."""
    inner = _value_and_grad(fn, grad_states, argnums, has_aux, holomorphic)

    def wrapped(*args: Any, **kwargs: Any):
        (loss, aux), g = inner(*args, **kwargs)
        return ((loss, aux) if has_aux else loss), g

    return wrapped


def grad(fn: Callable, grad_states: Any = None, argnums: int | Sequence[int] | None = None,
         has_aux: bool = False, return_value: bool = False,
         holomorphic: bool = False) -> Callable:
    """Gradient of a scalar function with respect to states and/or arguments.

    Parameters
    ----------
    fn : callable
        Returns a scalar loss (and an auxiliary value when ``has_aux``).
    grad_states : State, sequence or dict of States, optional
        The states to differentiate, e.g. ``model.states(brainsim.ParamState)``.
        The gradients come back in the same structure (path -> gradient for a
        dict). A gradient with respect to a brainunit quantity is a quantity in
        the state's unit, so ``w - lr * g`` keeps the unit.
    argnums : int or tuple of int, optional
        Positional arguments to differentiate as well. Without ``grad_states``
        it defaults to 0, as in ``jax.grad``.
    has_aux : bool
        ``fn`` returns ``(loss, aux)``.
    return_value : bool
        Also return the loss.

    Returns
    -------
    callable
        Returns ``grads``; with ``argnums`` and ``grad_states`` both given,
        ``(state_grads, arg_grads)``. Then ``aux`` and the loss are appended:
        ``(grads, aux)``, ``(grads, loss)`` or ``(grads, loss, aux)``.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> w = brainsim.ParamState(jnp.array([1., 2.]))
    >>> g = brainsim.grad(lambda x: jnp.sum(w.value ** 2 * x), grad_states={'w': w})(3.)
    >>> g['w'].tolist()
    [6.0, 12.0]
    """
    inner = _value_and_grad(fn, grad_states, argnums, has_aux, holomorphic)

    def wrapped(*args: Any, **kwargs: Any):
        (loss, aux), g = inner(*args, **kwargs)
        out = (g,)
        if return_value:
            out += (loss,)
        if has_aux:
            out += (aux,)
        return out[0] if len(out) == 1 else out

    return wrapped
