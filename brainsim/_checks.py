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
    """Raise unless ``value`` is a finite, positive (or zero) time (broadcastable to ``shape``).

    An infinite time constant is refused too: it freezes the variable it divides
    (an LIF with ``tau=inf`` never moves), a result as silently wrong as a negative one.
    Traced values (a time constant being trained) are checked for their unit only.
    """
    ok = isinstance(value, u.Quantity) and value.unit.has_same_dim(u.second)
    if ok and not isinstance(value.mantissa, jax.core.Tracer):
        m = np.asarray(value.to_decimal(u.ms))
        ok = bool(np.all(np.isfinite(m))) and (bool(np.all(m >= 0)) if allow_zero
                                                else bool(np.all(m > 0)))
    if not ok:
        what = "a non-negative" if allow_zero else "a positive"
        raise ValueError(
            f"{cls}: {name} must be {what} time quantity, finite, such as 10. * u.ms, got "
            f"{value!r}. "
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


# -- value checks of model parameters (neurons, synapses, inputs) -------------------------
# Each check looks only at concrete values: a parameter traced by jit/vmap/grad (one being
# trained) is skipped, its unit having been checked where the model is built.

def _concrete(value: Any) -> np.ndarray | None:
    """The value as a float array, or None when it is traced or not numeric."""
    m = value.mantissa if isinstance(value, u.Quantity) else value
    if isinstance(m, jax.core.Tracer):
        return None
    try:
        return np.asarray(m, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def check_finite(cls: str, **values: Any) -> None:
    """Raise unless every concrete floating-point entry of each value is finite.

    Each value, given by keyword (its argument name), may be any pytree: a
    number, an array, a quantity, a ``brainsim.event`` matrix, a state's value.
    Traced leaves (parameters or weights being differentiated) are skipped.

    Examples
    --------
    >>> from brainsim._checks import check_finite
    >>> check_finite("LIF", V_th=float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: LIF: V_th must be finite, got nan (1 NaN and 0 infinite value(s)). How to fix: give a finite number or quantity.
    """
    for name, value in values.items():
        for leaf in jax.tree_util.tree_leaves(value):
            if isinstance(leaf, jax.core.Tracer):
                continue
            arr = np.asarray(leaf)
            if not np.issubdtype(arr.dtype, np.inexact) or arr.size == 0:
                continue
            bad = ~np.isfinite(arr)
            if not np.any(bad):
                continue
            n_nan, n_inf = int(np.isnan(arr).sum()), int(np.isinf(arr).sum())
            if arr.size == 1:
                raise ValueError(f"{cls}: {name} must be finite, got {value} ({n_nan} NaN and "
                                 f"{n_inf} infinite value(s)). How to fix: give a finite number "
                                 "or quantity.")
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{cls}: {name} holds {n_nan} NaN and {n_inf} infinite value(s) (first at index "
                f"{first} of an array of shape {arr.shape}); they would turn every result they "
                f"touch into NaN. How to fix: replace them, e.g. jnp.nan_to_num(w), or find where "
                f"the values were computed.")


def check_positive(cls: str, name: str, value: Any, allow_zero: bool = False,
                   example: str = "") -> Any:
    """Raise unless ``value`` is finite and positive (or zero) everywhere; return it.

    ``example`` (e.g. ``'200. * u.pF'``) goes into the message's fix.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim._checks import check_positive
    >>> check_positive("HH", "C", -1. * u.pF, example="200. * u.pF")
    Traceback (most recent call last):
    ...
    ValueError: HH: C must be finite and positive, got -1. pF. How to fix: give e.g. 200. * u.pF.
    """
    m = _concrete(value)
    if m is not None:
        ok = np.all(np.isfinite(m)) and (np.all(m >= 0) if allow_zero else np.all(m > 0))
        if not ok:
            what = "non-negative" if allow_zero else "positive"
            fix = f"give e.g. {example}." if example else f"give a {what} value."
            raise ValueError(f"{cls}: {name} must be finite and {what}, got {value}. "
                             f"How to fix: {fix}")
    return value


def check_at_least_dt(cls: str, name: str, value: Any, consequence: str) -> None:
    """Raise when the duration ``value`` is shorter than the dt in force.

    Call it where the value is used in a step (the dt may change until then).
    ``consequence`` says what would go wrong, e.g. ``'the synapse would never open'``.
    """
    from . import environ   # the environment imports the models' modules

    dt = environ.get_dt()
    m = _concrete(value)
    if m is None or isinstance(u.get_mantissa(dt), jax.core.Tracer):
        return
    dt_m = float(dt.to_decimal(value.unit))
    if np.any(m < dt_m):
        raise ValueError(f"{cls}: {name}={value} is shorter than the time step dt={dt}, so "
                         f"{consequence}. How to fix: use a dt of at most {name}, or a longer "
                         f"{name}.")


def check_rate_per_step(cls: str, name: str, rate: Any) -> None:
    """Raise when a rate (a frequency quantity) exceeds 1/dt, the most one spike per step gives."""
    from . import environ

    dt = environ.get_dt()
    m = _concrete(rate)
    if m is None or m.size == 0 or isinstance(u.get_mantissa(dt), jax.core.Tracer):
        return
    top = float(np.max(m)) * rate.unit          # the highest rate, as a quantity
    if float(u.maybe_decimal(top * dt)) > 1.:
        raise ValueError(
            f"{cls}: {name} reaches {top}, above 1/dt = {float((1. / dt).to_decimal(u.Hz)):g} Hz "
            f"(dt={dt}); at most one spike per step can be drawn, so the rate would be capped "
            f"at 1/dt. How to fix: use a dt of at most 1/{name} "
            f"({float((1. / top).to_decimal(u.ms)):g} ms), or a lower rate.")


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


def check_int(fn: str, name: str, value: Any, expected: str, example: str) -> int:
    """``value`` as an ``int``; a ``TypeError`` naming ``fn``'s argument for anything else (bool
    included), saying it ``must be <expected>`` and to pass e.g. ``example``."""
    import operator

    kind = "bool" if isinstance(value, (bool, np.bool_)) else type(value).__name__
    if kind != "bool":
        try:
            return operator.index(value)
        except TypeError:
            pass
    raise TypeError(f"{fn}: {name} must be {expected}, got {value!r} ({kind}). "
                    f"How to fix: pass e.g. {example}.")


def check_matrix_shape(cls: str, shape: Any) -> tuple:
    """Return ``shape`` as ``(m, n)`` ints if it is a pair of non-negative integers; raise otherwise."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise ValueError(f"{cls}: shape must be a pair (m, n) of non-negative integers, got {shape!r}")
    return (check_size(cls, "shape[0]", shape[0]), check_size(cls, "shape[1]", shape[1]))


def check_below(cls: str, lo_name: str, lo: Any, hi_name: str, hi: Any, consequence: str) -> None:
    """Raise unless ``lo < hi`` everywhere (both concrete, of one unit kind).

    ``consequence`` says what an equal or inverted pair would do, e.g. for a
    reset at or above the threshold ``'the neuron would fire at every step'``.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim._checks import check_below
    >>> check_below("LIF", "V_reset", 1. * u.mV, "V_th", 1. * u.mV, "it fires at every step")
    Traceback (most recent call last):
    ...
    ValueError: LIF: V_reset=1. mV must be below V_th=1. mV, otherwise it fires at every step. How to fix: give a V_reset lower than V_th.
    """
    a, b = _concrete(lo), _concrete(hi)
    if a is None or b is None:
        return
    if isinstance(lo, u.Quantity) and isinstance(hi, u.Quantity):
        a = np.asarray(lo.to_decimal(hi.unit), dtype=np.float64)
    if not np.all(a < b):
        raise ValueError(f"{cls}: {lo_name}={lo} must be below {hi_name}={hi}, otherwise "
                         f"{consequence}. How to fix: give a {lo_name} lower than {hi_name}.")
