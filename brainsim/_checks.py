"""Checks of model parameters shared by neurons, synapses and inputs."""

from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["check_time", "check_shape"]


def check_time(cls: str, name: str, value: Any, allow_zero: bool = False,
               shape: tuple | None = None) -> Any:
    """Raise unless ``value`` is a positive (or zero) time quantity (broadcastable to ``shape``).

    Traced values (a time constant being trained) are checked for their unit only.
    """
    ok = isinstance(value, u.Quantity) and value.unit.has_same_dim(u.second)
    if ok and not isinstance(value.mantissa, jax.core.Tracer):
        m = np.asarray(value.to_decimal(u.ms))
        ok = bool(np.all(m >= 0)) if allow_zero else bool(np.all(m > 0))
    if not ok:
        what = "a non-negative" if allow_zero else "a positive"
        raise ValueError(
            f"{cls}: {name} must be {what} time quantity such as 10. * u.ms, got {value!r}. "
            "(import brainunit as u)")
    if shape is not None:
        check_shape(cls, name, value, shape)
    return value


def check_shape(cls: str, name: str, value: Any, shape: tuple) -> None:
    """Raise unless a parameter broadcasts to the population's shape."""
    got = tuple(jnp.shape(u.get_mantissa(value)))
    try:
        ok = tuple(jnp.broadcast_shapes(got, tuple(shape))) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(
            f"{cls}: {name} has shape {got}, which does not broadcast to the population shape "
            f"{tuple(shape)}. How to fix: give a scalar or an array of shape {tuple(shape)}.")


def check_finite(cls: str, name: str, value: Any) -> None:
    """Raise unless every concrete floating-point entry of ``value`` is finite.

    ``value`` may be any pytree: an array, a quantity, a ``brainsim.event``
    matrix, a state's value. Traced leaves (weights being differentiated) are
    skipped: their numbers are not known when the model is built.
    """
    for leaf in jax.tree_util.tree_leaves(value):
        if isinstance(leaf, jax.core.Tracer):
            continue
        arr = np.asarray(leaf)
        if not np.issubdtype(arr.dtype, np.inexact) or arr.size == 0:
            continue
        bad = ~np.isfinite(arr)
        if np.any(bad):
            n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{cls}: {name} holds {n_nan} NaN and {n_inf} infinite value(s) (first at index "
                f"{first} of an array of shape {arr.shape}); they would turn every result they "
                f"touch into NaN. How to fix: replace them, e.g. jnp.nan_to_num(w), or find where "
                f"the weights were computed.")


def check_size(cls: str, name: str, value: Any) -> int:
    """Return ``value`` as an ``int`` if it is a non-negative integer (a size); raise otherwise."""
    import operator

    try:
        ok = not isinstance(value, (bool, np.bool_)) and operator.index(value) >= 0
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(
            f"{cls}: {name} must be a non-negative integer, got {value!r}. "
            f"How to fix: pass a size such as {name}=10.")
    return operator.index(value)


def check_matrix_shape(cls: str, shape: Any) -> tuple:
    """Return ``shape`` as ``(m, n)`` ints if it is a pair of non-negative integers; raise otherwise."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"{cls}: shape must be a pair (m, n) of non-negative integers, got {shape!r}")
    return (check_size(cls, "shape[0]", shape[0]), check_size(cls, "shape[1]", shape[1]))
