"""Initializers: objects that produce initial values and weights of a given shape.

An initializer is called as ``init(shape)`` and returns an array (or a
brainunit Quantity) of that shape. Random ones draw from
:mod:`brainsim.random`, so one seed gives one network.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import brainunit as u
import jax.numpy as jnp
import numpy as np

from .. import random as bsr
from .._errors import UnitMismatchError

__all__ = ["Initializer", "Constant", "Normal", "Uniform", "param"]

Shape = int | Sequence[int]


def _shape(shape: Shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _split(x: Any) -> tuple[Any, Any]:
    """(mantissa, unit) of a number or Quantity."""
    if isinstance(x, u.Quantity):
        return x.mantissa, x.unit
    return x, None


def _wrap(m: Any, unit: Any) -> Any:
    return m if unit is None else u.Quantity(m, unit=unit)


class Initializer:
    """Base class: ``init(shape) -> array`` (a Quantity when the parameters have units)."""

    __module__ = "brainsim.init"

    def __call__(self, shape: Shape) -> Any:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define __call__(shape) returning the "
                        "initial array (a subclass of brainsim.init.Initializer).")

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Initializer):
    """Every entry equals ``value``.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import init
    >>> init.Constant(-60. * u.mV)((2,))
    Quantity([-60. -60.], "mV")
    """

    __module__ = "brainsim.init"

    def __init__(self, value: Any):
        self.value = value

    def __call__(self, shape: Shape) -> Any:
        m, unit = _split(self.value)
        return _wrap(jnp.broadcast_to(jnp.asarray(m, dtype=jnp.float32), _shape(shape)), unit)


class Normal(Initializer):
    r"""Entries drawn from :math:`\mathcal{N}(\mathrm{mean}, \mathrm{std}^2)`.

    ``mean`` and ``std`` must share a dimension (both plain numbers or both
    quantities of the same kind); the result has the unit of ``mean``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> from brainsim import init
    >>> brainsim.random.seed(0)
    >>> v = init.Normal(-55. * u.mV, 2. * u.mV)((10000,))
    >>> abs(float(v.mean().to_decimal(u.mV)) + 55.) < 0.1
    True
    """

    __module__ = "brainsim.init"

    def __init__(self, mean: Any = 0.0, std: Any = 1.0):
        _same_dim("Normal", "mean", mean, "std", std)
        self.mean, self.std = mean, std

    def __call__(self, shape: Shape) -> Any:
        mean, unit = _split(self.mean)
        std = self.std.to_decimal(unit) if unit is not None else self.std
        z = bsr.normal(size=_shape(shape))
        return _wrap(jnp.asarray(mean, jnp.float32) + jnp.asarray(std, jnp.float32) * z, unit)


class Uniform(Initializer):
    """Entries drawn uniformly from ``[low, high)``.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import init
    >>> w = init.Uniform(0. * u.nS, 1. * u.nS)((100,))
    >>> bool((w >= 0. * u.nS).all() and (w < 1. * u.nS).all())
    True
    """

    __module__ = "brainsim.init"

    def __init__(self, low: Any = 0.0, high: Any = 1.0):
        _same_dim("Uniform", "low", low, "high", high)
        self.low, self.high = low, high

    def __call__(self, shape: Shape) -> Any:
        low, unit = _split(self.low)
        high = self.high.to_decimal(unit) if unit is not None else self.high
        x = bsr.uniform(size=_shape(shape))
        low = jnp.asarray(low, jnp.float32)
        return _wrap(low + (jnp.asarray(high, jnp.float32) - low) * x, unit)


def _same_dim(cls: str, na: str, a: Any, nb: str, b: Any) -> None:
    ua, ub = u.get_unit(a), u.get_unit(b)
    if not ua.has_same_dim(ub):
        raise UnitMismatchError(
            f"{cls}: {na}={a!r} and {nb}={b!r} must have the same dimension "
            f"(got {ua} and {ub}). How to fix: give both with units of one kind, "
            f"e.g. {cls}(-55. * u.mV, 2. * u.mV)."
        )


def param(value: Any, shape: Shape, batch_size: int | None = None, *,
          name: str = "value") -> Any:
    """Turn a value, Quantity, array or initializer into an array of ``shape``.

    Parameters
    ----------
    value : number, array, Quantity, Initializer or callable
        A callable is called with the full shape (batch axis first when
        ``batch_size`` is given); anything else is broadcast to it.
    shape : tuple of int
        The shape without batch axis.
    batch_size : int, optional
        Prepend a batch axis of this size.
    name : str
        Used in error messages.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import init
    >>> init.param(-60. * u.mV, (3,), batch_size=2).shape
    (2, 3)
    """
    full = _shape(shape) if batch_size is None else (int(batch_size), *_shape(shape))
    if callable(value) and not isinstance(value, (u.Quantity, np.ndarray)) and not hasattr(value, "shape"):
        out = value(full)
    else:
        m, unit = _split(value)
        m = jnp.asarray(m)
        # an explicit dtype drops JAX's weak type: a weakly typed initial state would make
        # the first compiled step's outputs differ in type from its inputs and recompile
        m = jnp.asarray(m, m.dtype if jnp.issubdtype(m.dtype, jnp.floating) else jnp.float32)
        try:
            m = jnp.broadcast_to(m, full)
        except ValueError:
            raise ValueError(
                f"{name}: a value of shape {tuple(m.shape)} cannot be broadcast to the "
                f"population shape {full}. Give a scalar, an array of shape {full}, or an "
                "initializer such as brainsim.init.Normal(...)."
            ) from None
        out = _wrap(m, unit)
    if tuple(np.shape(out)) != full:
        raise ValueError(f"{name}: the initializer returned shape {tuple(np.shape(out))}, "
                         f"expected {full}.")
    return out
