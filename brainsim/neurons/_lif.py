"""Integrate-and-fire neurons: IF, LIF, LIFRef and ALIF."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .. import init as bsinit
from .._state import HiddenState
from .._checks import check_below
from ._base import Neuron, check_finite, check_same_dim, check_time, refractory_steps

__all__ = ["IF", "LIF", "LIFRef", "ALIF"]


class LIF(Neuron):
    r"""Leaky integrate-and-fire neuron.

    .. math::
        \tau \frac{dV}{dt} = V_\mathrm{rest} - V + R\, I(t), \qquad
        V > V_\mathrm{th} \Rightarrow \text{spike},\ V \leftarrow V_\mathrm{reset}

    The spike is the surrogate Heaviside of
    :math:`(V - V_\mathrm{th}) / (V_\mathrm{th} - V_\mathrm{reset})`.

    Parameters
    ----------
    in_size : int or tuple of int
        Population shape.
    tau : Quantity (time)
        Membrane time constant.
    V_th, V_reset, V_rest : Quantity (voltage) or float
        Threshold, reset and resting potentials (all of one kind of unit).
    R : Quantity or float
        Input resistance; ``R * I`` must be a voltage. With the default
        ``R=1.`` the input is given in volts (a "voltage current"); with
        ``R=100. * u.Mohm`` it is given in amperes.
    V_initializer : Initializer or value
        Initial ``V`` (default ``V_rest``).
    spk_fun, spk_reset, detach_reset, method, name
        See :class:`Neuron`. ``method`` defaults to ``'exp_euler'``.

    States
    ------
    V : HiddenState, shape ``[*batch, *in_size]``, unit of ``V_th``
    spike : ShortTermState, float 0/1

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> n = brainsim.init_states(brainsim.neurons.LIF(2, tau=10. * u.ms))
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     s = brainsim.for_loop(lambda: n(2. * u.mV), length=1000)
    >>> int(s.sum()) > 0
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = 1. * u.mV,
                 V_reset: Any = 0. * u.mV, V_rest: Any = 0. * u.mV, R: Any = 1.,
                 V_initializer: Any = None, *, spk_fun: Any = "sigmoid",
                 spk_reset: str = "hard", detach_reset: bool = True,
                 method: Any = "exp_euler", name: str | None = None):
        super().__init__(in_size, spk_fun=spk_fun, spk_reset=spk_reset,
                         detach_reset=detach_reset, method=method, name=name)
        cls = type(self).__name__
        self.tau = check_time(cls, "tau", tau, shape=self.varshape)
        check_same_dim(cls, "V_th", V_th, V_reset=V_reset, V_rest=V_rest)
        # the surrogate is scaled by V_th - V_reset: 0 gives NaN, and a reset at or
        # above the threshold makes the neuron fire again at once
        check_below(cls, "V_reset", V_reset, "V_th", V_th,
                    "the neuron fires again right after each reset (and the surrogate, scaled "
                    "by V_th - V_reset, is NaN or inverted)")
        check_finite(cls, R=R)
        self.V_th, self.V_reset, self.V_rest, self.R = V_th, V_reset, V_rest, R
        self.V_initializer = V_rest if V_initializer is None else V_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        self.V = HiddenState(bsinit.param(self.V_initializer, self.varshape, batch_size,
                                          name="V_initializer"))
        check_same_dim(type(self).__name__, "V_th", self.V_th, V_initializer=self.V.value)
        self._new_spike_state(batch_size)

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """``{'V': dV/dt}`` for ``y = {'V': V}``; ``I(V)`` is the input current."""
        V = y["V"]
        return {"V": (self.V_rest - V + self.R * I(V)) / self.tau}

    def update(self, x: Any = 0.) -> Any:
        """Advance one step with external current ``x``; return the spikes."""
        self._run_before()
        V = self._step_ode(x, self.R)["V"]
        spike = self.spike_of(V, self.V_th, self.V_th - self.V_reset)
        self.V.value = self.reset(V, spike, self.V_th, self.V_reset)
        self.spike.value = spike
        return spike


class IF(LIF):
    r"""Integrate-and-fire neuron without leak.

    .. math:: \tau \frac{dV}{dt} = R\, I(t), \qquad V > V_\mathrm{th} \Rightarrow
        \text{spike},\ V \leftarrow V_\mathrm{reset}

    Same parameters as :class:`LIF` (``V_rest`` only sets the initial value).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> n = brainsim.init_states(brainsim.neurons.IF(1, tau=1. * u.ms))
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     s = brainsim.for_loop(lambda: n(1. * u.mV), length=25)
    >>> int(s.sum())   # 1 mV threshold crossed every 10 steps (strictly above)
    2
    """

    __module__ = "brainsim.neurons"

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        return {"V": self.R * I(y["V"]) / self.tau}


class LIFRef(LIF):
    r"""LIF neuron with an absolute refractory period.

    After a spike, ``V`` is held at ``V_reset`` and inputs are ignored for
    ``tau_ref`` (rounded to whole time steps).

    .. math::
        \tau \frac{dV}{dt} = V_\mathrm{rest} - V + R\, I(t) \quad
        \text{unless } t - t_\mathrm{spike} < \tau_\mathrm{ref}

    Parameters
    ----------
    tau_ref : Quantity (time)
        Refractory period. Other parameters as :class:`LIF`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.LIFRef(1, tau_ref=5. * u.ms))
    ...     s = brainsim.for_loop(lambda: n(100. * u.mV), length=200)
    >>> int(s.sum())   # one spike every 51 steps at most
    4
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = 1. * u.mV,
                 V_reset: Any = 0. * u.mV, V_rest: Any = 0. * u.mV, R: Any = 1.,
                 tau_ref: Any = 2. * u.ms, V_initializer: Any = None, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, R, V_initializer, **kwargs)
        self.tau_ref = check_time(type(self).__name__, "tau_ref", tau_ref, allow_zero=True,
                                  shape=self.varshape)

    def init_state(self, batch_size: int | None = None) -> None:
        super().init_state(batch_size)
        # remaining refractory steps; a counter (not a spike time) works with or without a clock
        self.refractory = HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.int32))

    def update(self, x: Any = 0.) -> Any:
        self._run_before()
        n_ref = refractory_steps(type(self).__name__, self.tau_ref)
        left = self.refractory.value
        ref = left > 0
        V = self._step_ode(x, self.R, hold=ref)["V"]
        V = u.math.where(ref, self.V_reset, V) if isinstance(V, u.Quantity) else \
            jnp.where(ref, self.V_reset, V)
        spike = self.spike_of(V, self.V_th, self.V_th - self.V_reset) * (1. - ref)
        self.V.value = self.reset(V, spike, self.V_th, self.V_reset)
        self.refractory.value = jnp.where(spike > 0, n_ref, jnp.maximum(left - 1, 0))
        self.spike.value = spike
        return spike


class ALIF(LIF):
    r"""LIF neuron with an adaptive threshold.

    .. math::
        \tau \frac{dV}{dt} = V_\mathrm{rest} - V + R I, \qquad
        \tau_a \frac{da}{dt} = -a, \qquad
        V > V_\mathrm{th} + \beta a \Rightarrow \text{spike},\ V \leftarrow V_\mathrm{reset},
        \ a \leftarrow a + 1

    Parameters
    ----------
    tau_a : Quantity (time)
        Adaptation time constant.
    beta : Quantity (voltage)
        Threshold increase per unit of adaptation. Other parameters as :class:`LIF`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.ALIF(1, beta=1. * u.mV))
    ...     s = brainsim.for_loop(lambda: n(3. * u.mV), length=2000)
    >>> float(n.a.value[0]) > 0
    True
    """

    __module__ = "brainsim.neurons"
    _ode_vars = ("V", "a")

    def __init__(self, in_size: Any, tau: Any = 10. * u.ms, V_th: Any = 1. * u.mV,
                 V_reset: Any = 0. * u.mV, V_rest: Any = 0. * u.mV, R: Any = 1.,
                 tau_a: Any = 100. * u.ms, beta: Any = 0.1 * u.mV,
                 V_initializer: Any = None, **kwargs: Any):
        super().__init__(in_size, tau, V_th, V_reset, V_rest, R, V_initializer, **kwargs)
        self.tau_a = check_time("ALIF", "tau_a", tau_a, shape=self.varshape)
        check_same_dim("ALIF", "V_th", V_th, beta=beta)
        self.beta = beta

    def init_state(self, batch_size: int | None = None) -> None:
        super().init_state(batch_size)
        self.a = HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """``dV/dt`` as :class:`LIF` and ``da/dt = -a / tau_a``."""
        return {**super().derivative(y, t, I), "a": -y["a"] / self.tau_a}

    def update(self, x: Any = 0.) -> Any:
        self._run_before()
        y = self._step_ode(x, self.R)
        V, a = y["V"], y["a"]
        th = self.V_th + self.beta * a
        spike = self.spike_of(V, th, self.V_th - self.V_reset)
        self.V.value = self.reset(V, spike, th, self.V_reset)
        self.a.value = a + spike
        self.spike.value = spike
        return spike
