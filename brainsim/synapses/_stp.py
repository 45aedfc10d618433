"""Short-term plasticity: Tsodyks-Markram STP and pure depression STD."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .._state import HiddenState
from ._base import Synapse, check_tau, decay

__all__ = ["STP", "STD"]


class STP(Synapse):
    r"""Tsodyks-Markram short-term plasticity of each presynaptic neuron.

    Between spikes ``u`` and ``x`` relax exactly,

    .. math:: \frac{du}{dt} = -\frac{u}{\tau_f}, \qquad \frac{dx}{dt} = \frac{1 - x}{\tau_d},

    and at a spike :math:`u^+ = u^- + U (1 - u^-)`, the released fraction
    (the output) is :math:`u^+ x^-`, and :math:`x^+ = x^- - u^+ x^-`
    (Markram et al. 1998; the first spike from rest releases ``U``). Under a
    regular train of period :math:`T` the steady state is
    :math:`u^+_\infty = U / (1 - (1 - U) e^{-T/\tau_f})` and
    :math:`x^-_\infty = (1 - e^{-T/\tau_d}) / (1 - (1 - u^+_\infty) e^{-T/\tau_d})`.

    ``update(spike)`` returns ``spike * u+ * x-`` (0 where no spike): feed it
    to a synapse (e.g. :class:`Expon`) on the presynaptic side, as
    :class:`~brainsim.projections.AlignPreProj` does.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> s = brainsim.init_states(brainsim.synapses.STP(1, U=0.5))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     e = [float(s(jnp.ones(1))[0]) for _ in range(3)]
    >>> [round(v, 3) for v in e]
    [0.5, 0.377, 0.114]
    """

    __module__ = "brainsim.synapses"
    _params = ("U", "tau_f", "tau_d")
    _state_names = ()

    def __init__(self, in_size: Any, U: float = 0.15, tau_f: Any = 1500. * u.ms,
                 tau_d: Any = 200. * u.ms, name: str | None = None):
        super().__init__(in_size, name=name)
        if not 0. < float(U) <= 1.:
            raise ValueError(f"STP: U must be in (0, 1], got U={U!r}.")
        self.U = U
        self.tau_f = check_tau("STP", "tau_f", tau_f)
        self.tau_d = check_tau("STP", "tau_d", tau_d)

    def init_state(self, batch_size: int | None = None) -> None:
        shape = self.batched_shape(batch_size)
        self.u = HiddenState(jnp.zeros(shape, jnp.float32))
        self.x = HiddenState(jnp.ones(shape, jnp.float32))

    def set_unit(self, unit: Any) -> None:
        """Efficacies are dimensionless."""

    def conductance(self) -> Any:
        return self.u.value * self.x.value

    def update(self, spike: Any) -> jax.Array:
        s = jnp.asarray(spike, jnp.float32)
        uu = self.u.value * decay(self.tau_f)
        x = 1. + (self.x.value - 1.) * decay(self.tau_d)
        u_plus = uu + self.U * (1. - uu) * s
        release = u_plus * x * s
        self.u.value = u_plus
        self.x.value = x - release
        return release


class STD(Synapse):
    r"""Short-term depression: a resource ``x`` that each spike uses a fraction ``U`` of.

    .. math:: \frac{dx}{dt} = \frac{1 - x}{\tau}, \qquad \text{at a spike: output } x^-,\
        x^+ = (1 - U) x^-

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> s = brainsim.init_states(brainsim.synapses.STD(1, U=0.5))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     e = [float(s(jnp.ones(1))[0]) for _ in range(3)]
    >>> [round(v, 3) for v in e]
    [1.0, 0.502, 0.255]
    """

    __module__ = "brainsim.synapses"
    _params = ("tau", "U")
    _state_names = ()

    def __init__(self, in_size: Any, tau: Any = 200. * u.ms, U: float = 0.07,
                 name: str | None = None):
        super().__init__(in_size, name=name)
        if not 0. < float(U) <= 1.:
            raise ValueError(f"STD: U must be in (0, 1], got U={U!r}.")
        self.tau = check_tau("STD", "tau", tau)
        self.U = U

    def init_state(self, batch_size: int | None = None) -> None:
        self.x = HiddenState(jnp.ones(self.batched_shape(batch_size), jnp.float32))

    def set_unit(self, unit: Any) -> None:
        """Efficacies are dimensionless."""

    def conductance(self) -> Any:
        return self.x.value

    def update(self, spike: Any) -> jax.Array:
        s = jnp.asarray(spike, jnp.float32)
        x = 1. + (self.x.value - 1.) * decay(self.tau)
        out = x * s
        self.x.value = x - self.U * out
        return out
