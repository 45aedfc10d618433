"""The Hodgkin-Huxley neuron in the Traub-Miles form of the COBAHH benchmark."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import init as bsinit
from .._math import exprel
from .._state import HiddenState
from ._base import Neuron, check_finite, check_positive, mantissa

__all__ = ["HH"]


def _x_over_expm1(x: jax.Array, k: float) -> jax.Array:
    """``x / (exp(x / k) - 1)``, equal to ``k`` at ``x = 0`` (finite gradient there too)."""
    return k / exprel(x / k)


def rates(v: jax.Array, VT: float) -> tuple:
    """Opening and closing rates (1/ms) of m, h, n at membrane potentials ``v`` (mV)."""
    dv = v - VT
    am = 0.32 * _x_over_expm1(13. - dv, 4.)
    bm = 0.28 * _x_over_expm1(dv - 40., 5.)
    ah = 0.128 * jnp.exp((17. - dv) / 18.)
    bh = 4. / (1. + jnp.exp((40. - dv) / 5.))
    an = 0.032 * _x_over_expm1(15. - dv, 5.)
    bn = 0.5 * jnp.exp((10. - dv) / 40.)
    return am, bm, ah, bh, an, bn


def _check_gate(name: str, x: Any) -> None:
    """A gating variable is a dimensionless fraction in [0, 1]."""
    if isinstance(x, u.Quantity) and not u.get_unit(x).is_unitless:
        raise ValueError(f"HH: {name} must give a dimensionless fraction in [0, 1], got values "
                         f"in {u.get_unit(x)}. How to fix: pass plain numbers, e.g. 0.05.")
    m = u.get_mantissa(x)
    if not isinstance(m, jax.core.Tracer) and not bool(jnp.all((m >= 0.) & (m <= 1.))):
        raise ValueError(f"HH: {name} must give fractions in [0, 1], got values from "
                         f"{float(jnp.min(m))} to {float(jnp.max(m))}. How to fix: initialize the "
                         "gating variable between 0 and 1, or pass None for its steady state.")


class HH(Neuron):
    r"""Hodgkin-Huxley neuron, Traub-Miles kinetics (Brette et al. 2007, COBAHH).

    .. math::
        C \frac{dV}{dt} &= g_L (E_L - V) - g_\mathrm{Na} m^3 h (V - E_\mathrm{Na})
            - g_K n^4 (V - E_K) + I \\
        \frac{dx}{dt} &= \alpha_x(V) (1 - x) - \beta_x(V)\, x, \quad x \in \{m, h, n\}

    with (``V`` and ``V_T`` in mV, rates in 1/ms)
    :math:`\alpha_m = 0.32 (13 - V + V_T) / (e^{(13 - V + V_T)/4} - 1)`,
    :math:`\beta_m = 0.28 (V - V_T - 40) / (e^{(V - V_T - 40)/5} - 1)`,
    :math:`\alpha_h = 0.128\, e^{(17 - V + V_T)/18}`,
    :math:`\beta_h = 4 / (1 + e^{(40 - V + V_T)/5})`,
    :math:`\alpha_n = 0.032 (15 - V + V_T) / (e^{(15 - V + V_T)/5} - 1)`,
    :math:`\beta_n = 0.5\, e^{(10 - V + V_T)/40}`.
    A spike is an upward crossing of ``V_th``.

    Parameters
    ----------
    in_size : int or tuple of int
    C, g_L, g_Na, g_K : Quantity
        Capacitance and maximal conductances.
    E_L, E_Na, E_K, V_T, V_th : Quantity (voltage)
    V_initializer : Initializer or value
        Initial ``V`` (default ``E_L``).
    m_initializer, h_initializer, n_initializer : Initializer or value, optional
        Initial gating variables (dimensionless, in [0, 1]); ``None`` (the
        default) starts each at its steady state
        :math:`\alpha_x / (\alpha_x + \beta_x)` for the initial ``V``.
    method : str or callable
        Default ``'exp_euler'`` (each variable linearised, as Brian2's
        ``exponential_euler``).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.01 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.HH(1))
    ...     s = brainsim.for_loop(lambda: n(1. * u.nA), length=5000)
    >>> int(s.sum()) > 0
    True
    """

    __module__ = "brainsim.neurons"
    _ode_vars = ("V", "m", "h", "n")

    def __init__(self, in_size: Any, C: Any = 200. * u.pF, g_L: Any = 10. * u.nS,
                 g_Na: Any = 20. * u.uS, g_K: Any = 6. * u.uS, E_L: Any = -60. * u.mV,
                 E_Na: Any = 50. * u.mV, E_K: Any = -90. * u.mV, V_T: Any = -63. * u.mV,
                 V_th: Any = -20. * u.mV, V_initializer: Any = None, m_initializer: Any = None,
                 h_initializer: Any = None, n_initializer: Any = None, *,
                 spk_fun: Any = "sigmoid", method: Any = "exp_euler", name: str | None = None):
        super().__init__(in_size, spk_fun=spk_fun, method=method, name=name)
        for nm, v, ref in (("C", C, u.pF), ("g_L", g_L, u.nS), ("g_Na", g_Na, u.nS),
                           ("g_K", g_K, u.nS), ("E_L", E_L, u.mV), ("E_Na", E_Na, u.mV),
                           ("E_K", E_K, u.mV), ("V_T", V_T, u.mV), ("V_th", V_th, u.mV)):
            if not (isinstance(v, u.Quantity) and v.unit.has_same_dim(ref)):
                raise ValueError(f"HH: {nm} must be a quantity in units like {ref}, got {v!r}.")
        check_positive("HH", "C", C, example="200. * u.pF")
        check_positive("HH", "g_L", g_L, example="10. * u.nS")
        for nm, v in (("g_Na", g_Na), ("g_K", g_K)):
            check_positive("HH", nm, v, allow_zero=True, example="6. * u.uS")
        check_finite("HH", E_L=E_L, E_Na=E_Na, E_K=E_K, V_T=V_T, V_th=V_th)
        self.C, self.g_L, self.g_Na, self.g_K = C, g_L, g_Na, g_K
        self.E_L, self.E_Na, self.E_K, self.V_T, self.V_th = E_L, E_Na, E_K, V_T, V_th
        self.V_initializer = E_L if V_initializer is None else V_initializer
        self.m_initializer, self.h_initializer = m_initializer, h_initializer
        self.n_initializer = n_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        V = bsinit.param(self.V_initializer, self.varshape, batch_size, name="V_initializer")
        self.V = HiddenState(V)
        am, bm, ah, bh, an, bn = rates(V.to_decimal(u.mV), float(self.V_T.to_decimal(u.mV)))
        gates = (("m", self.m_initializer, am, bm), ("h", self.h_initializer, ah, bh),
                 ("n", self.n_initializer, an, bn))
        for name, init, a, b in gates:
            if init is None:
                x = a / (a + b)
            else:
                x = bsinit.param(init, self.varshape, batch_size, name=f"{name}_initializer")
                _check_gate(f"{name}_initializer", x)
            setattr(self, name, HiddenState(x))
        self._new_spike_state(batch_size)

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """Right-hand side for ``y = {'V', 'm', 'h', 'n'}``; ``I(V)`` is the input current."""
        V, m, h, n = y["V"], y["m"], y["h"], y["n"]
        am, bm, ah, bh, an, bn = rates(V.to_decimal(u.mV), float(self.V_T.to_decimal(u.mV)))
        I_Na = self.g_Na * m ** 3 * h * (V - self.E_Na)
        I_K = self.g_K * n ** 4 * (V - self.E_K)
        dV = (self.g_L * (self.E_L - V) - I_Na - I_K + I(V)) / self.C
        per_ms = 1. / u.ms
        return {"V": dV,
                "m": (am * (1. - m) - bm * m) * per_ms,
                "h": (ah * (1. - h) - bh * h) * per_ms,
                "n": (an * (1. - n) - bn * n) * per_ms}

    def update(self, x: Any = 0. * u.nA) -> Any:
        """Advance one step with external current ``x``; return the spikes."""
        self._run_before()
        V = self.V.value
        y = self._step_ode(x, 1. / self.g_L)
        V_new = y["V"]
        was_below = (mantissa(V, u.mV) < mantissa(self.V_th, u.mV)).astype(jnp.float32)
        spike = self.spike_of(V_new, self.V_th, 1. * u.mV) * was_below
        self.V.value = V_new
        self.m.value, self.h.value, self.n.value = y["m"], y["h"], y["n"]
        self.spike.value = spike
        return spike
