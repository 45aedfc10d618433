"""Distances between spike trains given as times: the gamma factor and van Rossum's distance."""
from __future__ import annotations

from typing import Any

import brainunit as u
import numpy as np

__all__ = ["gamma_factor", "van_rossum"]


def _times_s(fn: str, name: str, times: Any) -> np.ndarray:
    """Spike times as a sorted 1-D float64 array in seconds; raise unless they are times."""
    if not (isinstance(times, u.Quantity) and times.dim == u.second.dim):
        raise TypeError(f"{fn}: {name} must be spike times as a time Quantity, e.g. "
                        f"[1., 5.] * u.ms, got {times!r}. How to fix: multiply the numbers by "
                        "their unit (import brainunit as u).")
    t = np.asarray(times.to_decimal(u.second), dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{fn}: {name} holds non-finite spike times: {times!r}.")
    return np.sort(t)


def _positive_time(fn: str, name: str, value: Any, example: str) -> float:
    ok = isinstance(value, u.Quantity) and value.dim == u.second.dim and np.size(value) == 1
    x = float(value.to_decimal(u.second)) if ok else float("nan")
    if not (ok and np.isfinite(x) and x > 0):
        raise ValueError(f"{fn}: {name} must be one positive time, e.g. {example}, got "
                         f"{value!r}.")
    return x


def _coincidences(model: np.ndarray, data: np.ndarray, delta: float) -> int:
    """Pairs (data spike, model spike) at most ``delta`` apart, each spike in one pair at most.

    Both arrays sorted; a greedy sweep that matches each data spike with the earliest
    free model spike in its window (exact when the spikes of a train are more than
    ``2 delta`` apart, as they are for a window shorter than half the refractory period).
    """
    # times often come from float32 arrays: a window edge within their rounding counts
    top = max(float(np.max(np.abs(model), initial=0.)), float(np.max(np.abs(data), initial=0.)))
    tol = 1e-6 * delta + 2.4e-7 * top
    j, n = 0, 0
    for d in data:
        while j < len(model) and model[j] < d - delta - tol:
            j += 1
        if j < len(model) and model[j] <= d + delta + tol:
            n += 1
            j += 1
    return n


def gamma_factor(model_times: Any, data_times: Any, delta: Any, duration: Any,
                 rate_correction: bool = True) -> float:
    r"""The coincidence factor :math:`\Gamma` of two spike trains (Jolivet et al. 2008).

    .. math::
        \Gamma = \frac{N_\mathrm{coinc} - 2 \nu \delta N_\mathrm{data}}
                      {\tfrac12 (N_\mathrm{data} + N_\mathrm{model})(1 - 2 \nu \delta)}

    :math:`N_\mathrm{coinc}` counts the data spikes with a model spike at most
    ``delta`` away (one model spike per data spike), :math:`\nu =
    N_\mathrm{model} / \mathrm{duration}` is the model's rate, and the
    subtracted term is the number of coincidences a Poisson train of that
    rate would have by chance. :math:`\Gamma = 1` for identical trains and
    about 0 for independent ones. With ``rate_correction`` the relative rate
    difference is subtracted, :math:`\Gamma - 2 |\nu_\mathrm{data} - \nu| /
    \nu_\mathrm{data}`, so that a train with the right timing but extra spikes
    scores lower (as brian2modelfitting's ``GammaFactor(rate_correction=True)``).

    Parameters
    ----------
    model_times, data_times : Quantity (time), shape ``(n,)`` and ``(m,)``
        Spike times, in any order.
    delta : Quantity (time)
        Coincidence window, e.g. ``2. * u.ms``.
    duration : Quantity (time)
        Length of the recording (for the rates).
    rate_correction : bool
        Subtract the relative rate difference.

    Returns
    -------
    float
        :math:`\Gamma` (1 when both trains are empty; 0 when only one is).

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim.fitting import gamma_factor
    >>> t = [10., 50., 90.] * u.ms
    >>> gamma_factor(t, t, delta=2. * u.ms, duration=100. * u.ms)
    1.0
    """
    m = _times_s("gamma_factor", "model_times", model_times)
    d = _times_s("gamma_factor", "data_times", data_times)
    dl = _positive_time("gamma_factor", "delta", delta, "2. * u.ms")
    T = _positive_time("gamma_factor", "duration", duration, "1. * u.second")
    if len(m) == 0 and len(d) == 0:
        return 1.0
    if len(m) == 0 or len(d) == 0:
        return 0.0
    nu = len(m) / T
    norm = 1. - 2. * nu * dl
    if norm <= 0:
        raise ValueError(f"gamma_factor: the window delta={delta} is too wide for the model's "
                         f"rate {nu:.4g} Hz (2 * rate * delta = {2 * nu * dl:.3g} >= 1): every "
                         "spike would coincide by chance. How to fix: use a shorter delta.")
    coinc = _coincidences(m, d, dl)
    gamma = (coinc - 2. * nu * dl * len(d)) / (0.5 * (len(d) + len(m)) * norm)
    if rate_correction:
        nu_d = len(d) / T
        gamma -= 2. * abs(nu_d - nu) / nu_d
    return float(gamma)


def van_rossum(a: Any, b: Any, tau: Any) -> float:
    r"""Van Rossum's distance between two spike trains (van Rossum 2001).

    Each train is filtered with a causal exponential kernel
    :math:`f(t) = \sum_i e^{-(t - t_i)/\tau} H(t - t_i)`, and

    .. math::
        D^2 = \frac{1}{\tau} \int_{-\infty}^{\infty} (f_a(t) - f_b(t))^2 dt
            = \frac12 \Big(\sum_{ij} e^{-|a_i - a_j|/\tau} + \sum_{ij} e^{-|b_i - b_j|/\tau}
              - 2 \sum_{ij} e^{-|a_i - b_j|/\tau}\Big),

    computed in closed form. :math:`D^2` is half the number of spikes the
    trains do not share when they are far apart.

    Parameters
    ----------
    a, b : Quantity (time), shape ``(n,)`` and ``(m,)``
        Spike times.
    tau : Quantity (time)
        Kernel time constant.

    Returns
    -------
    float
        :math:`D` (dimensionless).

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim.fitting import van_rossum
    >>> round(van_rossum([10.] * u.ms, [] * u.ms, tau=5. * u.ms) ** 2, 6)
    0.5
    """
    x = _times_s("van_rossum", "a", a)
    y = _times_s("van_rossum", "b", b)
    tau_s = _positive_time("van_rossum", "tau", tau, "10. * u.ms")

    def k(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.exp(-np.abs(p[:, None] - q[None, :]) / tau_s).sum())

    d2 = 0.5 * (k(x, x) + k(y, y) - 2. * k(x, y))
    return float(np.sqrt(max(d2, 0.)))
