"""A leaky integrator readout (no spikes)."""
from __future__ import annotations

from typing import Any

import brainunit as u

from .. import init as bsinit
from .._state import HiddenState
from ._base import Neuron, check_finite, check_time

__all__ = ["LeakyIntegrator"]


class LeakyIntegrator(Neuron):
    r"""Leaky integrator, the usual readout of a spiking network.

    .. math:: \tau \frac{dV}{dt} = -V + R\, I(t)

    Parameters
    ----------
    in_size : int or tuple of int
    tau : Quantity (time)
    R : float or Quantity
        With the defaults (``R=1.``, ``V_initializer=0.``) ``V`` and the input
        are plain numbers, which is what a trained readout usually wants.
    V_initializer : Initializer or value
    method : str or callable

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> r = brainsim.init_states(brainsim.neurons.LeakyIntegrator(1, tau=10. * u.ms))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     v = brainsim.for_loop(lambda: r(1.), length=10)
    >>> round(float(v[-1, 0]), 4)   # 1 - exp(-1)
    0.6321
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, tau: Any = 5. * u.ms, R: Any = 1.,
                 V_initializer: Any = 0., *, method: Any = "exp_euler",
                 name: str | None = None):
        super().__init__(in_size, method=method, name=name)
        self.tau = check_time("LeakyIntegrator", "tau", tau)
        check_finite("LeakyIntegrator", R=R)
        self.R = R
        self.V_initializer = V_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        self.V = HiddenState(bsinit.param(self.V_initializer, self.varshape, batch_size,
                                          name="V_initializer"))

    def update(self, x: Any = 0.) -> Any:
        """Advance one step with input ``x``; return ``V``."""
        self._run_before()
        self.V.value = self._step_ode(x, self.R)["V"]
        return self.V.value

    def derivative(self, y: dict, t: Any, I: Any) -> dict:
        """``{'V': dV/dt}`` for ``y = {'V': V}``."""
        V = y["V"]
        return {"V": (-V + self.R * I(V)) / self.tau}
