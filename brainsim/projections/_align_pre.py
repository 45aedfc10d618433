"""AlignPreProj: the synapse state lives on the presynaptic side."""
from __future__ import annotations

from typing import Any, Sequence

import brainunit as u
import jax.numpy as jnp

from .._state import ShortTermState
from ._base import (Projection, _pre_size, apply_comm, check_input_unit, check_syn_size,
                    comm_unit)

__all__ = ["AlignPreProj"]


class AlignPreProj(Projection):
    r"""Projection whose synapse dynamics run per presynaptic neuron.

    The (delayed) spikes pass through ``syn`` on the presynaptic side (one
    model or a chain, e.g. ``[STP(n_pre), Expon(n_pre, tau)]``), and the
    resulting per-neuron values are projected with ``comm``:

    .. math:: g^\mathrm{pre}_i = \mathrm{syn}(s_i), \qquad
        g_j = \sum_i g^\mathrm{pre}_i W_{ij}, \qquad I_j = \mathrm{out}(g_j, V_j)

    Needed for synapses that depend on each presynaptic neuron's own history
    (short-term plasticity, saturating kinetics such as AMPA). The product
    visits every synapse each step (the operand is not binary).

    Parameters
    ----------
    syn : Synapse or sequence of Synapse
        Of the presynaptic size (another size is refused with a ``ValueError``).
    comm, out, post, pre, delay
        As in :class:`AlignPostProj`.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons, synapses, projections
    >>> post = neurons.LIF(2, R=1. * u.Gohm)
    >>> pre = neurons.PoissonSpike(3, 100. * u.Hz)
    >>> p = projections.AlignPreProj([synapses.STP(3), synapses.Expon(3, 5. * u.ms)],
    ...                              jnp.ones((3, 2)) * u.nS, synapses.CUBA(1. * u.mV),
    ...                              post=post, pre=pre)
    """

    __module__ = "brainsim.projections"

    def __init__(self, syn: Any, comm: Any, out: Any, post: Any, pre: Any = None,
                 delay: Any = None, name: str | None = None):
        syns = list(syn) if isinstance(syn, Sequence) else [syn]
        n_pre = _pre_size(pre, comm) if pre is None or hasattr(pre, "varshape") else None
        if n_pre is not None:
            shape = tuple(pre.varshape) if pre is not None else (n_pre,)
            for k, s in enumerate(syns):
                check_syn_size(type(self).__name__, s, shape, "pre",
                               "syn" if len(syns) == 1 else f"syn[{k}]")
        super().__init__(comm, post, pre, delay, name)
        self.syn = syns
        self.out = out
        post.add_current_input(self._bs_key, lambda V: out(self.g.value, V))

    def init_state(self, batch_size: int | None = None) -> None:
        n_post = self._bs_post.varshape
        shape = n_post if batch_size is None else (batch_size, *n_post)
        unit = comm_unit(self.comm, self._bs_n_pre)
        z = jnp.zeros(shape, jnp.float32)
        self.g = ShortTermState(z if unit is None else u.Quantity(z, unit=unit))

    def update(self, spike: Any = None) -> None:
        x = self._spikes(spike)
        for s in self.syn:
            x = s(x)
        y = apply_comm(self.comm, x, binary=False)
        check_input_unit(type(self).__name__, y, self.g.value, self.g.path)
        self.g.value = y
