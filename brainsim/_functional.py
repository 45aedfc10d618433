"""A functional escape hatch: a model's state values as a plain dict, and back.

Useful to hand a model to code that wants pure pytrees (raw ``jax.jit``,
``jax.grad``, optax, a custom serializer) and to put the results back.
"""

from __future__ import annotations

import difflib
from typing import Any, Mapping

from ._module import Module, StateFilter
from ._state import State

__all__ = ["split_states", "merge_states"]


def split_states(model: Module, filter: StateFilter = None) -> dict[str, Any]:
    """The values of ``model``'s states, by path (a pytree).

    Examples
    --------
    >>> import brainsim, jax, jax.numpy as jnp
    >>> class Lin(brainsim.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = brainsim.ParamState(jnp.ones(2))
    >>> m = Lin()
    >>> vals = brainsim.split_states(m)
    >>> brainsim.merge_states(m, jax.tree_util.tree_map(lambda x: 3 * x, vals))
    >>> m.w.value.tolist()
    [3.0, 3.0]
    """
    return {path: state.value for path, state in model.states(filter).items()}


def merge_states(model: Module, values: Mapping[str, Any]) -> None:
    """Write ``values`` (path -> value) into ``model``'s states.

    Every path and value is checked before anything is written, so on an
    error the model is unchanged.

    Raises
    ------
    KeyError
        For a path the model does not have (with near-miss suggestions).
    brainsim.errors.StateValueError
        For a value whose shape, dtype or unit does not fit its state.
    """
    states: dict[str, State] = model.states()
    checked = {}
    for path, value in values.items():
        if path not in states:
            close = difflib.get_close_matches(path, list(states), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
            raise KeyError(f"'{model._path()}' has no state '{path}'{hint}")
        checked[path] = states[path]._checked(value)
    for path, value in checked.items():
        states[path].value = value
