"""Metrics the fitters minimise: on traces (MSE) and on binned spike trains (van Rossum, gamma)."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Metric", "MSEMetric", "VanRossumMetric", "GammaFactor"]


class Metric:
    """Base class of the fitting metrics.

    A metric maps a model's output and the data, both ``[n_traces, T]`` in SI
    units (for spikes: 0/1 per time step), to one error (lower is better).
    ``differentiable`` tells the fitters whether to take gradient steps.
    """

    __module__ = "brainsim.fitting"
    differentiable: bool = True

    def __call__(self, model: jax.Array, data: jax.Array, dt: float) -> jax.Array:
        raise TypeError(f"{type(self).__name__} must define __call__(model, data, dt), the "
                        "error of a model output against the data (a scalar).")

    def check(self, n_traces: int, n_steps: int) -> None:
        """Raise when the metric's settings do not fit ``[n_traces, n_steps]`` data."""


class MSEMetric(Metric):
    r"""Mean squared error of traces, optionally weighted in time.

    .. math::
        E = \frac{\sum_{k,t} w_t (y_{k,t} - d_{k,t})^2}{n_\mathrm{traces} \sum_t w_t}

    in SI units (volt\ :sup:`2` for a voltage).

    Parameters
    ----------
    t_weights : array, shape ``(T,)`` or ``(n_traces, T)``, optional
        Non-negative weights per time step (e.g. 0 during spikes, to fit the
        subthreshold dynamics). Uniform by default.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.fitting import MSEMetric
    >>> float(MSEMetric()(jnp.ones((2, 4)), jnp.zeros((2, 4)), 1e-4))
    1.0
    """

    __module__ = "brainsim.fitting"

    def __init__(self, t_weights: Any = None):
        if t_weights is not None:
            w = np.asarray(t_weights, dtype=np.float32)
            if w.ndim not in (1, 2) or not np.all(np.isfinite(w)) or np.any(w < 0) \
                    or w.sum() <= 0:
                raise ValueError(f"MSEMetric: t_weights must be non-negative finite weights of "
                                 f"shape (T,) or (n_traces, T), not all 0; got shape {w.shape}.")
            t_weights = w
        self.t_weights = t_weights

    def check(self, n_traces: int, n_steps: int) -> None:
        w = self.t_weights
        if w is not None and w.shape not in ((n_steps,), (n_traces, n_steps)):
            raise ValueError(f"MSEMetric: t_weights has shape {w.shape}, but the traces are "
                             f"({n_traces}, {n_steps}). How to fix: give one weight per time "
                             f"step, shape ({n_steps},) or ({n_traces}, {n_steps}).")

    def __call__(self, model: jax.Array, data: jax.Array, dt: float) -> jax.Array:
        sq = (model - data) ** 2
        if self.t_weights is None:
            return jnp.mean(sq)
        w = jnp.broadcast_to(jnp.asarray(self.t_weights), sq.shape)
        return jnp.sum(w * sq) / jnp.sum(w)


def _filtered(s: jax.Array, decay: float) -> jax.Array:
    """``f[t] = decay * f[t-1] + s[t]`` along the last axis (a causal exponential kernel)."""
    def step(f, x):
        f = decay * f + x
        return f, f
    _, out = jax.lax.scan(step, jnp.zeros(s.shape[:-1], s.dtype), jnp.moveaxis(s, -1, 0))
    return jnp.moveaxis(out, 0, -1)


class VanRossumMetric(Metric):
    r"""Smooth van Rossum distance of binned spike trains, differentiable.

    Both trains (0/1 per step; the model's spikes carry the surrogate
    gradient of its spike function) are filtered with
    :math:`e^{-t/\tau}`, and the error is the mean over traces of

    .. math::
        D^2 = \frac{\mathrm{d}t}{\tau} \sum_t (f_\mathrm{model}(t) - f_\mathrm{data}(t))^2,

    the discrete form of :func:`brainsim.fitting.van_rossum` squared.

    Parameters
    ----------
    tau : Quantity (time)
        Kernel time constant (about the spike-timing precision to reward).

    Examples
    --------
    >>> import brainunit as u, jax.numpy as jnp
    >>> from brainsim.fitting import VanRossumMetric
    >>> s = jnp.zeros((1, 2000)).at[0, 100].set(1.)
    >>> round(float(VanRossumMetric(5. * u.ms)(s, jnp.zeros_like(s), 1e-5)), 2)
    0.5
    """

    __module__ = "brainsim.fitting"

    def __init__(self, tau: Any = 5. * u.ms):
        if not (isinstance(tau, u.Quantity) and tau.dim == u.second.dim and
                float(tau.to_decimal(u.second)) > 0):
            raise ValueError(f"VanRossumMetric: tau must be a positive time, e.g. 5. * u.ms, "
                             f"got {tau!r}.")
        self.tau = tau

    def __call__(self, model: jax.Array, data: jax.Array, dt: float) -> jax.Array:
        tau = float(self.tau.to_decimal(u.second))
        decay = float(np.exp(-dt / tau))
        diff = _filtered(model - data, decay)
        return jnp.sum(diff ** 2, axis=-1).mean() * dt / tau


class GammaFactor(Metric):
    r"""``1 - Γ``, the gamma factor of :func:`brainsim.fitting.gamma_factor`, for binned trains.

    Not differentiable: a fitter given this metric searches without
    gradients (the resampling of candidates around the best ones only).
    Coincidences are counted per time step: a data spike coincides when the
    model spiked within ``delta`` of it.

    Parameters
    ----------
    delta : Quantity (time)
        Coincidence window.
    rate_correction : bool
        Subtract the relative rate difference, as :func:`gamma_factor`.

    Examples
    --------
    >>> import brainunit as u, jax.numpy as jnp
    >>> from brainsim.fitting import GammaFactor
    >>> s = jnp.zeros((1, 1000)).at[0, ::100].set(1.)
    >>> float(GammaFactor(2. * u.ms)(s, s, 1e-4))
    0.0
    """

    __module__ = "brainsim.fitting"
    differentiable = False

    def __init__(self, delta: Any = 2. * u.ms, rate_correction: bool = True):
        if not (isinstance(delta, u.Quantity) and delta.dim == u.second.dim and
                float(delta.to_decimal(u.second)) > 0):
            raise ValueError(f"GammaFactor: delta must be a positive time, e.g. 2. * u.ms, got "
                             f"{delta!r}.")
        self.delta, self.rate_correction = delta, rate_correction

    def gamma(self, model: jax.Array, data: jax.Array, dt: float) -> jax.Array:
        """Γ per trace, shape ``[n_traces]``."""
        dl = float(self.delta.to_decimal(u.second))
        w = int(round(dl / dt))
        T = model.shape[-1] * dt
        box = jnp.ones((2 * w + 1,), model.dtype)
        near = jax.vmap(lambda m: jnp.convolve(m, box, mode="same"))(model.reshape(-1, model.shape[-1]))
        near = near.reshape(model.shape)
        n_m, n_d = model.sum(-1), data.sum(-1)
        coinc = jnp.sum(data * jnp.minimum(near, 1.), axis=-1)
        nu = n_m / T
        norm = 1. - 2. * nu * dl
        g = (coinc - 2. * nu * dl * n_d) / (0.5 * (n_d + n_m) * norm)
        if self.rate_correction:
            nu_d = n_d / T
            g = g - 2. * jnp.abs(nu_d - nu) / jnp.maximum(nu_d, 1e-12)
        g = jnp.where(n_m + n_d == 0, 1., jnp.where((n_m == 0) | (n_d == 0), 0., g))
        return g

    def __call__(self, model: jax.Array, data: jax.Array, dt: float) -> jax.Array:
        return 1. - jnp.mean(self.gamma(model, data, dt))
