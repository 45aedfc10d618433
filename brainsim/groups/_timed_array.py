"""TimedArray: values held constant over steps of a given duration."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

__all__ = ["TimedArray"]


class TimedArray:
    r"""Values held over consecutive steps of ``dt``: ``stim(t) = values[floor(t / dt)]``.

    Before 0 the first value is held, after the end the last one (as Brian).
    Use it as a function in model strings (``namespace={'stim': stim}``, then
    ``'dv/dt = (stim(t) - v) / tau : volt'``) or as a Runner input
    (``Runner(model, inputs=stim)``).

    Parameters
    ----------
    values : Quantity or array, shape ``(T,)`` or ``(T, n)``
        One value (or one row of ``n`` values, one per neuron) per step.
    dt : Quantity (time)
        How long each value is held; any multiple of the simulation step.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> stim = brainsim.TimedArray([1., 2., 3.] * u.nA, dt=1. * u.ms)
    >>> [float(stim(t).to_decimal(u.nA)) for t in (0.5 * u.ms, 1.5 * u.ms, 10. * u.ms)]
    [1.0, 2.0, 3.0]
    """

    __module__ = "brainsim"

    def __init__(self, values: Any, dt: Any):
        if not (isinstance(dt, u.Quantity) and dt.dim == u.second.dim) or \
                not float(u.get_mantissa(dt)) > 0:
            raise ValueError(f"TimedArray: dt must be a positive time such as 1. * u.ms, "
                             f"got {dt!r}.")
        m = jnp.asarray(u.get_mantissa(values), jnp.float32)
        if m.ndim not in (1, 2) or m.shape[0] == 0:
            raise ValueError(f"TimedArray: values must have shape (T,) or (T, n) with T > 0, "
                             f"got shape {m.shape}.")
        self.unit = values.unit if isinstance(values, u.Quantity) else None
        self._values = m
        self.dt = dt

    @property
    def values(self) -> Any:
        """The held values, shape ``(T,)`` or ``(T, n)``."""
        return self._values if self.unit is None else u.Quantity(self._values, unit=self.unit)

    def __call__(self, t: Any) -> Any:
        """The value held at time ``t`` (a time; an array of times gives an array)."""
        if u.get_dim(t) != u.second.dim:
            raise ValueError(f"TimedArray: t must be a time, got {t!r}.")
        # the small offset makes t = k * dt, computed in floating point, fall in step k
        k = jnp.floor(u.maybe_decimal(t / self.dt) + 1e-4).astype(jnp.int32)
        v = self._values[jnp.clip(k, 0, self._values.shape[0] - 1)]
        return v if self.unit is None else u.Quantity(v, unit=self.unit)

    def __repr__(self) -> str:
        return f"TimedArray(shape={tuple(self._values.shape)}, unit={self.unit}, dt={self.dt})"
