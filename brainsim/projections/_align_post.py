"""AlignPostProj: the synapse state lives on the postsynaptic side."""
from __future__ import annotations

from typing import Any

import numpy as np

from ._base import Projection, check_input_unit, check_syn_size, comm_unit

__all__ = ["AlignPostProj"]


class AlignPostProj(Projection):
    r"""Projection whose synapse lives on the postsynaptic neurons (O(N_post) state).

    Each step the (delayed) presynaptic spikes go through ``comm`` (a sparse
    or dense matrix, or a callable), the result is added to the synapse
    ``syn`` as its input, the synapse is advanced once, and ``out`` turns its
    conductance into a current of ``post``:

    .. math:: x_j = \sum_i s_i W_{ij}, \qquad g_j \leftarrow \mathrm{syn}(g_j, x_j), \qquad
        I_j = \mathrm{out}(g_j, V_j)

    This is exact for linear synapses (Expon, DualExpon, Alpha): the sum of
    per-synapse traces is the trace of the summed input. **Sharing:** two
    projections onto the same ``post`` whose ``syn`` and ``out`` have equal
    types and parameters use one synapse state (the second ``syn`` object is
    dropped), so ``E -> post`` and a second excitatory source cost one state
    and one update.

    Parameters
    ----------
    comm : matrix, State or callable
        ``brainsim.event`` matrix (CSR, FixedNumPerPre, ...), a dense
        ``(n_pre, n_post)`` array, a :class:`brainsim.State` holding one of
        them (read at every step: use it for learned or plastic weights), or a
        callable ``spikes -> input`` (a layer, :class:`HeteroDelayCSR`); see
        :class:`Projection`. Weights carry the unit of ``g``.
    syn : brainsim.synapses.Synapse
        A synapse of the postsynaptic size (e.g. ``Expon(n_post, tau)``);
        another size is refused with a ``ValueError``.
    out : brainsim.synapses.SynOut
        ``COBA(E)``, ``CUBA()``, ``MgBlock()``.
    post : brainsim.neurons.Neuron
    pre : neuron or spike source, optional
        Where ``update()`` reads spikes when called without arguments.
    delay : Quantity (time), optional
        A homogeneous delay (ring buffer); must be a multiple of ``dt``. For
        per-synapse delays use ``comm=HeteroDelayCSR(conn, delays)``.
    share : bool
        ``True`` (default): reuse the synapse state of an earlier projection
        onto ``post`` with an equal ``syn`` and ``out`` (synapse merging), and
        offer this one to later projections. ``False``: keep a state of its own
        and offer it to none (one state per projection; the same dynamics for
        linear synapses, up to rounding, at more memory and work).

    Examples
    --------
    >>> import brainsim, brainunit as u, numpy as np
    >>> from brainsim import neurons, synapses, projections, event
    >>> E = neurons.LIF(4, V_th=-50. * u.mV, V_reset=-60. * u.mV, V_rest=-60. * u.mV, R=1. * u.Gohm)
    >>> W = event.CSR.from_coo([0, 1], [2, 3], np.float32(5.) * u.nS, shape=(4, 4))
    >>> p = projections.AlignPostProj(W, synapses.Expon(4, 5. * u.ms), synapses.COBA(0. * u.mV),
    ...                               post=E, pre=E)
    >>> _ = brainsim.init_states(E), brainsim.init_states(p)
    >>> p.syn.g.value.unit
    Unit("nS")
    """

    __module__ = "brainsim.projections"

    def __init__(self, comm: Any, syn: Any, out: Any, post: Any, pre: Any = None,
                 delay: Any = None, name: str | None = None, *, share: bool = True):
        if not isinstance(share, (bool, np.bool_)):
            raise TypeError(f"AlignPostProj: share must be True or False, got {share!r} of type "
                            f"{type(share).__name__}. How to fix: share=False for a synapse "
                            "state of this projection's own.")
        if hasattr(post, "varshape"):   # else Projection says what post must be
            check_syn_size(type(self).__name__, syn, post.varshape, "post")
        super().__init__(comm, post, pre, delay, name)
        self.out = out
        registry = post.__dict__.get("_bs_shared_synapses")
        if registry is None:
            registry = {}
            object.__setattr__(post, "_bs_shared_synapses", registry)
        key = (syn.share_key(), out.share_key() if hasattr(out, "share_key") else id(out))
        shared = bool(share) and key in registry
        if shared:
            syn = registry[key]
        else:
            if share:
                registry[key] = syn
            syn.set_unit(comm_unit(comm, self._bs_n_pre))
        self.syn = syn
        object.__setattr__(self, "_bs_shared", shared)
        object.__setattr__(self, "_bs_hooked", hasattr(post, "add_before_update"))
        if not shared:
            post.add_current_input(self._bs_key, lambda V: out(syn.conductance(), V))
            if self._bs_hooked:
                # the synapse lives on post and advances with it, so it runs on post's clock
                # and keeps the jumps that arrive between two of post's updates
                if getattr(post, "dt", None) is not None and syn.dt is None:
                    object.__setattr__(syn, "_bs_clock_dt", post.dt)
                post.add_before_update(self._bs_key, lambda: syn())

    @property
    def shares_synapse(self) -> bool:
        """True when this projection reuses the synapse state of an earlier one."""
        return self._bs_shared

    def update(self, spike: Any = None) -> None:
        """Deliver the presynaptic ``spike`` (default: ``pre.get_spike()``)."""
        x = self._input(spike)
        check_input_unit(type(self).__name__, x, self.syn.conductance(), self.syn._path())
        if self._bs_hooked:
            self.syn.add_delta_input(self._bs_key, x)   # summed when post advances the synapse
        else:
            self.syn.update(x)
