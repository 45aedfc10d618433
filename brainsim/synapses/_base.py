"""Shared helpers of synapse models."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ
from .._checks import check_time
from .. import init as bsinit
from .._dynamics import DynamicsModule

__all__ = ["Synapse", "decay", "check_tau", "now"]


def check_tau(cls: str, name: str, tau: Any) -> Any:
    """A synapse time constant: a positive time quantity."""
    return check_time(cls, name, tau)


def decay(tau: Any) -> jax.Array:
    """``exp(-dt / tau)`` as a plain number."""
    return jnp.exp(-u.maybe_decimal(environ.get_dt() / tau))


def now() -> Any:
    """The time of the running loop, or 0 ms outside one (the kinetics are autonomous)."""
    try:
        return environ.get_t()
    except ValueError:
        return 0. * u.ms


def zeros_like_unit(shape: tuple, unit_of: Any) -> Any:
    z = jnp.zeros(shape, jnp.float32)
    return u.Quantity(z, unit=unit_of.unit) if isinstance(unit_of, u.Quantity) else z


class Synapse(DynamicsModule):
    """Base class of synaptic kinetics.

    ``update(x)`` advances one step and adds the input ``x`` (weighted
    presynaptic spikes, already summed per target) plus any delta inputs
    registered by projections; it returns the conductance (:meth:`conductance`).
    Two synapses with equal :meth:`share_key` behave identically, which lets
    :class:`~brainsim.projections.AlignPostProj` merge them into one state.
    """

    __module__ = "brainsim.synapses"
    _params: tuple[str, ...] = ()

    def share_key(self) -> tuple:
        """A hashable description of the type, size and parameters."""
        return (type(self).__name__, self.in_size) + tuple(
            (p, repr(getattr(self, p))) for p in self._params)

    def conductance(self) -> Any:
        """The current output of the synapse (what outputs turn into a current)."""
        return self.g.value

    def _input(self, x: Any, like: Any) -> Any:
        total = self.sum_delta_inputs(zeros_like_unit(jnp.shape(u.get_mantissa(like)), like))
        return total if x is None else total + x

    def set_unit(self, unit: Any) -> None:
        """Give the state the unit of the incoming values (used by projections)."""
        init = self.g_initializer
        if unit is None or isinstance(init, u.Quantity) or callable(init):
            return
        self.g_initializer = u.Quantity(init, unit=unit)
        if "g" in vars(self):
            for name in self._state_names:
                st = getattr(self, name)
                st.replace(u.Quantity(st.value, unit=unit))

    _state_names: tuple[str, ...] = ("g",)

    def _g0(self, batch_size: int | None) -> Any:
        return bsinit.param(self.g_initializer, self.varshape, batch_size, name="g_initializer")

    def _repr_fields(self) -> dict:
        return {"in_size": self.in_size, **{p: getattr(self, p) for p in self._params}}
