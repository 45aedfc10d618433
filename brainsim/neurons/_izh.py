"""The Izhikevich neuron."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .. import init as bsinit
from .._state import HiddenState
from .._checks import check_below, check_positive
from ._base import Neuron, check_finite, check_time

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
        check_positive("Izhikevich", "a", a, example="0.02 / u.ms")   # before 1/a divides by it
        check_time("Izhikevich", "1/a", 1. / a)
        check_finite("Izhikevich", b=b, c=c, d=d, V_th=V_th, R=R)
        check_below("Izhikevich", "c", c, "V_th", V_th,
                    "the neuron fires again right after each reset")
        self.V_initializer, self.u_initializer = V_initializer, u_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        V = bsinit.param(self.V_initializer, self.varshape, batch_size, name="V_initializer")
        self.V = HiddenState(V)
        uu = self.b * V if self.u_initializer is None else bsinit.param(
            self.u_initializer, self.varshape, batch_size, name="u_initializer")
        self.u = HiddenState(uu)
        self._new_spike_state(batch_size)

    _ode_vars = ("V", "u")

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """``{'V': dV/dt, 'u': du/dt}``; ``I(V)`` is the input current."""
        V, w = y["V"], y["u"]
        dV = (0.04 / u.mV * V * V + 5. * V + 140. * u.mV - w + self.R * I(V)) / u.ms
        return {"V": dV, "u": self.a * (self.b * V - w)}

    def update(self, x: Any = 0.) -> Any:
        """Advance one step with external current ``x``; return the spikes.

        ``V`` and ``u`` are stepped jointly with the neuron's ``method``; where
        the new ``V`` reaches ``V_th``, ``V`` is set to ``c`` and ``u`` grows by ``d``.

        Parameters
        ----------
        x : Quantity or float
            External input; ``R * x`` must be a voltage (mV with the default ``R=1.``).

        Returns
        -------
        jax.Array
            The spikes (float 0/1, shape ``[*batch, *in_size]``).
        """
        self._run_before()
        y = self._step_ode(x, self.R)
        V_new, w_new = y["V"], y["u"]
        spike = self.spike_of(V_new, self.V_th, self.V_th - self.c)
        self.V.value = self.reset(V_new, spike, self.V_th, self.c)
        self.u.value = w_new + self.d * spike
        self.spike.value = spike
        return spike
