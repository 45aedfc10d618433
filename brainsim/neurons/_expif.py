"""Nonlinear integrate-and-fire neurons: ExpIF, AdEx and QuaIF."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .._errors import UnitMismatchError
from .._state import HiddenState
from ._base import check_finite, check_positive, check_same_dim, check_time, refractory_steps
from ._lif import LIF

__all__ = ["ExpIF", "AdEx", "QuaIF"]


def _where(c: Any, a: Any, b: Any) -> Any:
    return u.math.where(c, a, b) if isinstance(b, u.Quantity) else jnp.where(c, a, b)


class _RefractoryIF(LIF):
    """An IF neuron whose ``derivative`` may be nonlinear, with an optional refractory period."""

    def __init__(self, in_size: Any, tau: Any, V_th: Any, V_reset: Any, V_rest: Any, R: Any,
                 tau_ref: Any, V_initializer: Any, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, R, V_initializer, **kwargs)
        self.tau_ref = check_time(type(self).__name__, "tau_ref", tau_ref, allow_zero=True)

    def init_state(self, batch_size: int | None = None) -> None:
        super().init_state(batch_size)
        self.refractory = HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.int32))

    def _extra(self, y: dict, spike: Any) -> None:
        """Store the other variables of the joint step ``y``, after the spike (adaptation)."""

    def update(self, x: Any = 0.) -> Any:
        self._run_before()
        left = self.refractory.value
        ref = left > 0
        y = self._step_ode(x, self.R, hold=ref)
        V = _where(ref, self.V_reset, y["V"])
        spike = self.spike_of(V, self.V_th, self.V_th - self.V_reset) * (1. - ref)
        self._extra(y, spike)
        self.V.value = self.reset(V, spike, self.V_th, self.V_reset)
        n_ref = refractory_steps(type(self).__name__, self.tau_ref)
        self.refractory.value = jnp.where(spike > 0, n_ref, jnp.maximum(left - 1, 0))
        self.spike.value = spike
        return spike


class ExpIF(_RefractoryIF):
    r"""Exponential integrate-and-fire neuron (Fourcaud-Trocmé et al. 2003).

    .. math::
        \tau \frac{dV}{dt} = V_\mathrm{rest} - V + \Delta_T e^{(V - V_T)/\Delta_T} + R I,
        \qquad V > V_\mathrm{th} \Rightarrow V \leftarrow V_\mathrm{reset}

    Parameters
    ----------
    V_T : Quantity (voltage)
        The soft threshold where the exponential takes over.
    delta_T : Quantity (voltage)
        Spike slope factor.
    V_th : Quantity (voltage)
        The numerical cut-off where a spike is counted.
    tau_ref : Quantity (time)
        Refractory period (0 by default). Other parameters as :class:`LIF`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.05 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.ExpIF(1))
    ...     s = brainsim.for_loop(lambda: n(10. * u.mV), length=2000)
    >>> int(s.sum()) > 0
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = -30. * u.mV,
                 V_reset: Any = -68. * u.mV, V_rest: Any = -65. * u.mV, V_T: Any = -59.9 * u.mV,
                 delta_T: Any = 3.48 * u.mV, R: Any = 1., tau_ref: Any = 0. * u.ms,
                 V_initializer: Any = None, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, R, tau_ref, V_initializer, **kwargs)
        check_same_dim(type(self).__name__, "V_th", V_th, V_T=V_T, delta_T=delta_T)
        check_positive(type(self).__name__, "delta_T", delta_T, example="3.48 * u.mV")
        self.V_T, self.delta_T = V_T, delta_T

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        V = y["V"]
        ex = self.delta_T * u.math.exp((V - self.V_T) / self.delta_T)
        return {"V": (self.V_rest - V + ex + self.R * I(V)) / self.tau}


class AdEx(ExpIF):
    r"""Adaptive exponential integrate-and-fire neuron (Brette & Gerstner 2005).

    .. math::
        \tau \frac{dV}{dt} &= V_\mathrm{rest} - V + \Delta_T e^{(V - V_T)/\Delta_T} - R w + R I \\
        \tau_w \frac{dw}{dt} &= a (V - V_\mathrm{rest}) - w

    On a spike, :math:`V \leftarrow V_\mathrm{reset}` and :math:`w \leftarrow w + b`.

    ``w`` is an adaptation current in the unit of the input ``I``, so
    ``R * w`` is a voltage: with the default ``R=1.`` currents are given as
    voltages (mV), with ``R`` in MOhm in nA.

    Parameters
    ----------
    a : float or Quantity, unit of ``I`` / unit of ``V`` (that is 1 / unit of ``R``)
        Subthreshold adaptation conductance. Dimensionless with the default
        ``R=1.`` (``a`` then stands for the conductance times ``R``); a
        conductance such as ``4. * u.nS`` with ``R`` in MOhm.
    b : Quantity, unit of ``I``
        Spike-triggered jump of ``w``: a voltage (``1. * u.mV``) with the
        default ``R=1.``, a current (``0.08 * u.nA``) with ``R`` in MOhm.
    tau_w : Quantity (time)
        Adaptation time constant. Other parameters as :class:`ExpIF`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.05 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.AdEx(1))
    ...     s = brainsim.for_loop(lambda: n(20. * u.mV), length=4000)
    >>> float(n.w.value[0].to_decimal(u.mV)) > 0
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = -30. * u.mV,
                 V_reset: Any = -68. * u.mV, V_rest: Any = -65. * u.mV, V_T: Any = -59.9 * u.mV,
                 delta_T: Any = 3.48 * u.mV, a: Any = 1., b: Any = 1. * u.mV,
                 tau_w: Any = 30. * u.ms, R: Any = 1., tau_ref: Any = 0. * u.ms,
                 V_initializer: Any = None, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, V_T, delta_T, R, tau_ref,
                         V_initializer, **kwargs)
        self.tau_w = check_time("AdEx", "tau_w", tau_w)
        check_finite("AdEx", a=a, b=b)
        _check_adaptation_units(V_th, R, a, b)
        self.a, self.b = a, b

    def init_state(self, batch_size: int | None = None) -> None:
        super().init_state(batch_size)
        unit = u.get_unit(self.b)
        z = jnp.zeros(self.batched_shape(batch_size), jnp.float32)
        self.w = HiddenState(z if unit.is_unitless and not isinstance(self.b, u.Quantity)
                             else u.Quantity(z, unit=unit))

    _ode_vars = ("V", "w")

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        V, w = y["V"], y["w"]
        dV = super().derivative(y, t, lambda v: I(v) - w)["V"]
        return {"V": dV, "w": (self.a * (V - self.V_rest) - w) / self.tau_w}

    def _extra(self, y: dict, spike: Any) -> None:
        self.w.value = y["w"] + self.b * spike


def _check_adaptation_units(V_th: Any, R: Any, a: Any, b: Any) -> None:
    """``w`` is in the unit of the input: ``R * b`` is a voltage, ``a * V`` has the unit of ``b``."""
    volt = u.get_unit(V_th)
    if not u.get_unit(R * b).has_same_dim(volt):
        raise UnitMismatchError(
            f"AdEx: b={b} must be a current in the unit of the input, so that R * b is a "
            f"voltage like V_th ({volt}); with R={R}, R * b has unit {u.get_unit(R * b)}. "
            "How to fix: b = 1. * u.mV with the default R=1., or b in nA with R in MOhm.")
    if not u.get_unit(a * V_th).has_same_dim(u.get_unit(b)):
        raise UnitMismatchError(
            f"AdEx: a={a} times a voltage must have the unit of b ({u.get_unit(b)}); got "
            f"{u.get_unit(a * V_th)}. How to fix: a dimensionless a with the default R=1., or a "
            "conductance such as 4. * u.nS with R in MOhm and b in nA.")


class QuaIF(_RefractoryIF):
    r"""Quadratic integrate-and-fire neuron.

    .. math::
        \tau \frac{dV}{dt} = c (V - V_\mathrm{rest})(V - V_c) + R I

    Parameters
    ----------
    c : Quantity (1/voltage)
        Curvature.
    V_c : Quantity (voltage)
        Critical voltage of spike initiation. Other parameters as :class:`ExpIF`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.05 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.QuaIF(1))
    ...     s = brainsim.for_loop(lambda: n(20. * u.mV), length=2000)
    >>> int(s.sum()) > 0
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = -30. * u.mV,
                 V_reset: Any = -68. * u.mV, V_rest: Any = -65. * u.mV, V_c: Any = -50. * u.mV,
                 c: Any = 0.07 / u.mV, R: Any = 1., tau_ref: Any = 0. * u.ms,
                 V_initializer: Any = None, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, R, tau_ref, V_initializer, **kwargs)
        check_same_dim("QuaIF", "V_th", V_th, V_c=V_c)
        check_finite("QuaIF", c=c)
        self.V_c, self.c = V_c, c

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        V = y["V"]
        return {"V": (self.c * (V - self.V_rest) * (V - self.V_c) + self.R * I(V)) / self.tau}
