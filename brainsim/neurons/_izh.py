"""The Izhikevich neuron."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .. import init as bsinit
from .._state import HiddenState
from ._base import Neuron, check_time

__all__ = ["Izhikevich"]


class Izhikevich(Neuron):
    r"""Izhikevich (2003) neuron.

    .. math::
        \frac{dV}{dt} &= \left(0.04 V^2 / \mathrm{mV} + 5 V + 140\,\mathrm{mV} - u + R I\right)
            / \mathrm{ms} \\
        \frac{du}{dt} &= a (b V - u)

    On :math:`V \ge V_\mathrm{th}` (30 mV): :math:`V \leftarrow c`, :math:`u \leftarrow u + d`.

    Parameters
    ----------
    a : Quantity (1/time)
    b : float
    c : Quantity (voltage)
    d : Quantity (voltage)
    V_th : Quantity (voltage)
    R : float or Quantity
    V_initializer, u_initializer : Initializer or value
        Default ``-70 mV`` and ``b * V``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     n = brainsim.init_states(brainsim.neurons.Izhikevich(1))
    ...     s = brainsim.for_loop(lambda: n(10. * u.mV), length=2000)
    >>> int(s.sum()) > 0
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, a: Any = 0.02 / u.ms, b: Any = 0.2, c: Any = -65. * u.mV,
                 d: Any = 8. * u.mV, V_th: Any = 30. * u.mV, R: Any = 1.,
                 V_initializer: Any = -70. * u.mV, u_initializer: Any = None, *,
                 spk_fun: Any = "sigmoid", detach_reset: bool = True,
                 method: Any = "exp_euler", name: str | None = None):
        super().__init__(in_size, spk_fun=spk_fun, detach_reset=detach_reset, method=method,
                         name=name)
        self.a, self.b, self.c, self.d, self.V_th, self.R = a, b, c, d, V_th, R
        check_time("Izhikevich", "1/a", 1. / a)
        self.V_initializer, self.u_initializer = V_initializer, u_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        V = bsinit.param(self.V_initializer, self.varshape, batch_size, name="V_initializer")
        self.V = HiddenState(V)
        uu = self.b * V if self.u_initializer is None else bsinit.param(
            self.u_initializer, self.varshape, batch_size, name="u_initializer")
        self.u = HiddenState(uu)
        self._new_spike_state(batch_size)

    def update(self, x: Any = 0.) -> Any:
        self._run_before()
        V, w = self.V.value, self.u.value
        I = self.input_current(x, V, self.R)

        def dV(v, t):
            return (0.04 / u.mV * v * v + 5. * v + 140. * u.mV - w + self.R * I(v)) / u.ms

        V_new = self.sum_delta_inputs(self.integrate(dV, V))
        w_new = self.integrate(lambda z, t: self.a * (self.b * V - z), w)
        spike = self.spike_of(V_new, self.V_th, self.V_th - self.c)
        s = spike if not self.detach_reset else jnp.asarray(spike)
        self.V.value = self.reset(V_new, s, self.V_th, self.c)
        self.u.value = w_new + self.d * s
        self.spike.value = spike
        return spike
