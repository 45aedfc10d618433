"""Resetting a model's dynamical states inside a compiled training step."""

from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .._module import Module
from .._state import HiddenState, ShortTermState, _is_quantity

__all__ = ["zero_hidden_states"]


def _zeros(x: Any) -> Any:
    if isinstance(x, u.Quantity):
        return u.Quantity(jnp.zeros_like(x.mantissa), unit=x.unit)
    return jnp.zeros_like(x)


def zero_hidden_states(model: Module) -> None:
    """Set every :class:`~brainsim.HiddenState` and :class:`~brainsim.ShortTermState` to zero.

    ``brainsim.reset_states`` may create new states (a new batch size), which a
    traced function must not do; this only assigns values, so it can start
    each sample's simulation inside a compiled BPTT step. Units, shapes and
    dtypes are kept. Use it when every dynamical variable starts at zero
    (e.g. ``V_rest = 0``); otherwise assign the start values yourself.

    Parameters
    ----------
    model : Module

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> from brainsim.train import zero_hidden_states
    >>> class M(brainsim.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.v = brainsim.HiddenState(jnp.ones(2))
    ...         self.w = brainsim.ParamState(jnp.ones(2))
    >>> m = M()
    >>> brainsim.jit(lambda: zero_hidden_states(m))()
    >>> m.v.value.tolist(), m.w.value.tolist()
    ([0.0, 0.0], [1.0, 1.0])
    """
    if not isinstance(model, Module):
        raise TypeError(f"zero_hidden_states expects a brainsim.Module, got {type(model).__name__}.")
    for state in model.states((HiddenState, ShortTermState)).values():
        state.value = jax.tree_util.tree_map(_zeros, state.value, is_leaf=_is_quantity)
