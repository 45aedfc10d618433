"""Activity regularisers: a target firing rate and a band for the membrane potential."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ
from ._losses import _plain

__all__ = ["firing_rate_penalty", "membrane_band_penalty"]


def firing_rate_penalty(spikes: Any, target: Any, dt: Any = None) -> jax.Array:
    r"""Squared distance of each neuron's mean rate from a target, summed over neurons.

    .. math:: R = \sum_i \Big(\frac{1}{TB}\sum_{t,b} s_{t,b,i} - r^* \Delta t\Big)^2

    Rates are in spikes per step, so the penalty does not depend on the unit of time.

    Parameters
    ----------
    spikes : array, shape (T, B, N...)
    target : Quantity (frequency) or float
        Target rate; a float is read as spikes per step.
    dt : Quantity (time), optional
        The time step (the environment's ``dt`` by default); used with a frequency ``target``.

    Examples
    --------
    >>> import brainunit as u, jax.numpy as jnp
    >>> from brainsim.train import firing_rate_penalty
    >>> s = jnp.zeros((10, 1, 2)).at[::2, 0, 0].set(1.)   # neuron 0 at 0.5 per step, 1 silent
    >>> round(float(firing_rate_penalty(s, 100. * u.Hz, dt=1. * u.ms)), 4)  # 0.4^2 + 0.1^2
    0.17
    """
    s = _plain(spikes, "spikes")
    if s.ndim < 3:
        raise ValueError(f"spikes must have shape (T, B, N...); got shape {tuple(s.shape)}. "
                         "How to fix: add the batch axis, e.g. spikes[:, None].")
    if isinstance(target, u.Quantity):
        if not target.unit.has_same_dim(u.Hz):
            raise ValueError(f"target must be a frequency such as 5. * u.Hz (or a float in "
                             f"spikes per step), got {target}.")
        dt = environ.get_dt() if dt is None else dt
        target = u.maybe_decimal(target * dt)
    rate = jnp.mean(s, axis=(0, 1))
    return jnp.sum(jnp.square(rate - target))


def membrane_band_penalty(v: Any, low: float, high: float) -> jax.Array:
    r"""Mean squared excursion of a membrane potential outside the band ``[low, high]``.

    .. math:: R = \big\langle\, \mathrm{relu}(V - V_\mathrm{high})^2
        + \mathrm{relu}(V_\mathrm{low} - V)^2 \big\rangle

    It keeps potentials near the threshold region, where the surrogate
    gradient is nonzero, without touching those inside the band.

    Parameters
    ----------
    v : array or Quantity, any shape (quantities are read by their mantissa)
        Usually the normalised potential :math:`(V - V_\mathrm{th}) / V_\mathrm{th}`.
    low, high : float
        The band, ``low < high``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import membrane_band_penalty
    >>> round(float(membrane_band_penalty(jnp.array([-3., 0., 1.]), low=-2., high=0.5)), 4)
    0.4167
    """
    if not float(low) < float(high):
        raise ValueError(f"membrane_band_penalty: low={low} must be below high={high}.")
    x = _plain(v, "v")
    return jnp.mean(jnp.square(jax.nn.relu(x - high)) + jnp.square(jax.nn.relu(low - x)))
