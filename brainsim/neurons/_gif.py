"""The generalized integrate-and-fire neuron (Mihalas & Niebur 2009) with adaptation currents."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import init as bsinit
from .._checks import check_below, check_shape
from .._errors import UnitMismatchError
from .._state import HiddenState
from ._base import Neuron, check_finite, check_same_dim, check_time

__all__ = ["GIF"]


class GIF(Neuron):
    r"""Generalized integrate-and-fire neuron with two spike-triggered currents and an
    adaptive threshold (Mihalas & Niebur 2009, the BrainPy ``GIF``).

    .. math::
        \tau \frac{dV}{dt} &= V_\mathrm{rest} - V + R\,(I + I_1 + I_2) \\
        \tau_{I_1} \frac{dI_1}{dt} &= -I_1, \qquad \tau_{I_2} \frac{dI_2}{dt} = -I_2 \\
        \tau_\mathrm{th} \frac{dV_\mathrm{th}}{dt} &= a\,(V - V_\mathrm{rest})
            - (V_\mathrm{th} - V_\mathrm{th\infty})

    A spike is emitted when :math:`V > V_\mathrm{th}` (the surrogate Heaviside of
    :math:`(V - V_\mathrm{th}) / (V_\mathrm{th\infty} - V_\mathrm{reset})`); then

    .. math::
        V \leftarrow V_\mathrm{reset}\ \text{(hard) or}\ V - (V_\mathrm{th} - V_\mathrm{reset})
        \ \text{(soft)}, \quad
        I_k \leftarrow R_k I_k + A_k, \quad
        V_\mathrm{th} \leftarrow \max(V_\mathrm{th}, V_\mathrm{th,reset}) + A_\mathrm{th}.

    A negative ``A2`` with a long ``tau_I2`` is a slow, spike-triggered
    adaptation current (spike-frequency adaptation, a memory of past activity);
    ``A_th > 0`` or ``a > 0`` make the threshold adapt. Between spikes every
    variable is a sum of exponentials (``tests/test_neuron_gif.py`` checks the
    closed form). BrainPy writes the threshold equation as
    :math:`dV_\mathrm{th}/dt = a' (V - V_\mathrm{rest}) - b (V_\mathrm{th} - V_\mathrm{th\infty})`:
    here ``tau_th = 1 / b`` and ``a = a' / b``.

    Parameters
    ----------
    in_size : int or tuple of int
        Population shape.
    tau : Quantity (time)
        Membrane time constant.
    V_rest, V_reset, V_th_inf : Quantity (voltage) or float
        Resting and reset potentials, and the threshold's resting value (one
        kind of unit; ``V_reset < V_th_inf``).
    V_th_reset : Quantity (voltage) or float, optional
        Floor of the threshold after a spike (none by default).
    R : Quantity or float
        Input resistance; ``R * I``, ``R * A1`` and ``R * A2`` are voltages.
        With the default ``R=1.`` currents are given as voltages.
    tau_I1, tau_I2 : Quantity (time)
        Decay time constants of the spike-triggered currents.
    A1, A2 : Quantity or float, unit of the input current
        Jumps of :math:`I_1` and :math:`I_2` at a spike.
    R1, R2 : float
        Fractions of :math:`I_1`, :math:`I_2` kept at a spike (0 and 1 by default).
    tau_th : Quantity (time)
        Time constant of the threshold.
    a : float
        Subthreshold coupling of the threshold to ``V`` (dimensionless).
    A_th : Quantity (voltage) or float
        Jump of the threshold at a spike.
    V_initializer, I1_initializer, I2_initializer, V_th_initializer : Initializer or value
        Initial values (``V_rest``, 0, 0 and ``V_th_inf`` by default).
    spk_fun, spk_reset, detach_reset, method, name
        See :class:`Neuron`. With ``detach_reset`` the gradient is also stopped
        through the spike-triggered jumps of the currents and the threshold.

    Every parameter may be a scalar or an array of the population's shape
    (for example ``A1`` nonzero only for inhibitory neurons, ``tau_I2`` drawn
    per neuron).

    States
    ------
    V, I1, I2, V_th : HiddenState, shape ``[*batch, *in_size]``
    spike : ShortTermState, float 0/1

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.GIF(1, A2=-1. * u.mV, tau_I2=200. * u.ms))
    ...     s = brainsim.for_loop(lambda: n(40. * u.mV), length=5000)
    >>> int(s[:1000].sum()), int(s[4000:].sum())   # spikes in the first and last 100 ms
    (6, 4)
    >>> float(n.I2.value[0].to_decimal(u.mV)) < 0
    True
    """

    __module__ = "brainsim.neurons"
    _ode_vars = ("V", "I1", "I2", "V_th")

    def __init__(self, in_size: Any, tau: Any = 20. * u.ms, V_rest: Any = -70. * u.mV,
                 V_reset: Any = -70. * u.mV, V_th_inf: Any = -50. * u.mV,
                 V_th_reset: Any = None, R: Any = 1., tau_I1: Any = 5. * u.ms,
                 tau_I2: Any = 50. * u.ms, A1: Any = None, A2: Any = None, R1: Any = 0.,
                 R2: Any = 1., tau_th: Any = 100. * u.ms, a: Any = 0., A_th: Any = None,
                 V_initializer: Any = None, I1_initializer: Any = None,
                 I2_initializer: Any = None, V_th_initializer: Any = None, *,
                 spk_fun: Any = "sigmoid", spk_reset: str = "hard", detach_reset: bool = True,
                 method: Any = "exp_euler", name: str | None = None):
        super().__init__(in_size, spk_fun=spk_fun, spk_reset=spk_reset,
                         detach_reset=detach_reset, method=method, name=name)
        cls = type(self).__name__
        shape = self.varshape
        self.tau = check_time(cls, "tau", tau, shape=shape)
        self.tau_I1 = check_time(cls, "tau_I1", tau_I1, shape=shape)
        self.tau_I2 = check_time(cls, "tau_I2", tau_I2, shape=shape)
        self.tau_th = check_time(cls, "tau_th", tau_th, shape=shape)
        zero_v = V_th_inf * 0.
        A_th = zero_v if A_th is None else A_th
        others = dict(V_rest=V_rest, V_reset=V_reset, A_th=A_th)
        if V_th_reset is not None:
            others["V_th_reset"] = V_th_reset
        check_same_dim(cls, "V_th_inf", V_th_inf, **others)
        # the surrogate is scaled by V_th_inf - V_reset: zero or negative is NaN or inverted
        check_below(cls, "V_reset", V_reset, "V_th_inf", V_th_inf,
                    "the neuron fires again right after each reset (and the surrogate, scaled "
                    "by V_th_inf - V_reset, is NaN or inverted)")
        check_finite(cls, R=R, R1=R1, R2=R2, a=a)
        # the currents are in the unit of the input: R * A is a voltage
        zero_i = zero_v / R if isinstance(zero_v, u.Quantity) else zero_v * 0.
        A1 = zero_i if A1 is None else A1
        A2 = zero_i if A2 is None else A2
        check_finite(cls, A1=A1, A2=A2)
        for nm, val in (("A1", A1), ("A2", A2)):
            if not u.get_unit(R * val).has_same_dim(u.get_unit(V_th_inf)):
                raise UnitMismatchError(
                    f"{cls}: {nm}={val} must be a current in the unit of the input, so that "
                    f"R * {nm} is a voltage like V_th_inf ({u.get_unit(V_th_inf)}); with R={R}, "
                    f"R * {nm} has unit {u.get_unit(R * val)}. How to fix: give {nm} in mV with "
                    "the default R=1. (e.g. -0.6 * u.mV), in nA with R in MOhm, or as a plain "
                    "number when the voltages are plain numbers.")
        for nm, val in dict(V_rest=V_rest, V_reset=V_reset, V_th_inf=V_th_inf, A1=A1, A2=A2,
                            R=R, R1=R1, R2=R2, a=a, A_th=A_th).items():
            check_shape(cls, nm, val, shape)
        self.V_rest, self.V_reset, self.V_th_inf, self.V_th_reset = \
            V_rest, V_reset, V_th_inf, V_th_reset
        self.R, self.A1, self.A2, self.R1, self.R2 = R, A1, A2, R1, R2
        self.a, self.A_th = a, A_th
        self.V_initializer = V_rest if V_initializer is None else V_initializer
        self.I1_initializer = A1 * 0. if I1_initializer is None else I1_initializer
        self.I2_initializer = A2 * 0. if I2_initializer is None else I2_initializer
        self.V_th_initializer = V_th_inf if V_th_initializer is None else V_th_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        cls = type(self).__name__
        p = lambda v, nm: bsinit.param(v, self.varshape, batch_size, name=nm)  # noqa: E731
        self.V = HiddenState(p(self.V_initializer, "V_initializer"))
        self.I1 = HiddenState(p(self.I1_initializer, "I1_initializer"))
        self.I2 = HiddenState(p(self.I2_initializer, "I2_initializer"))
        self.V_th = HiddenState(p(self.V_th_initializer, "V_th_initializer"))
        check_same_dim(cls, "V_th_inf", self.V_th_inf, V_initializer=self.V.value,
                       V_th_initializer=self.V_th.value)
        check_same_dim(cls, "A1", self.A1, I1_initializer=self.I1.value,
                       I2_initializer=self.I2.value)
        self._new_spike_state(batch_size)

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """The derivatives of ``V``, ``I1``, ``I2`` and ``V_th``; ``I(V)`` is the input current."""
        V, I1, I2, th = y["V"], y["I1"], y["I2"], y["V_th"]
        return {
            "V": (self.V_rest - V + self.R * (I(V) + I1 + I2)) / self.tau,
            "I1": -I1 / self.tau_I1,
            "I2": -I2 / self.tau_I2,
            "V_th": (self.a * (V - self.V_rest) - (th - self.V_th_inf)) / self.tau_th,
        }

    def update(self, x: Any = 0.) -> Any:
        """Advance one step with external current ``x``; return the spikes."""
        self._run_before()
        y = self._step_ode(x, self.R)
        V, th = y["V"], y["V_th"]
        spike = self.spike_of(V, th, self.V_th_inf - self.V_reset)
        s = jax.lax.stop_gradient(spike) if self.detach_reset else spike
        self.V.value = self.reset(V, spike, th, self.V_reset)
        self.I1.value = y["I1"] + ((self.R1 - 1.) * y["I1"] + self.A1) * s
        self.I2.value = y["I2"] + ((self.R2 - 1.) * y["I2"] + self.A2) * s
        floor = th if self.V_th_reset is None else _maximum(th, self.V_th_reset)
        self.V_th.value = th + (floor - th + self.A_th) * s
        self.spike.value = spike
        return spike


def _maximum(a: Any, b: Any) -> Any:
    return u.math.maximum(a, b) if isinstance(a, u.Quantity) else jnp.maximum(a, b)
