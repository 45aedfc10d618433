"""Per-synapse delays with the synapses split by postsynaptic neuron over a mesh.

:class:`ShardedHeteroDelayCSR` is :class:`brainsim.projections.HeteroDelayCSR` for a
sharded model. Each device holds the synapses onto its own postsynaptic neurons (global
presynaptic indices, their delays and weights, in CSR order). Each step:

1. the local spikes are packed into uint32 words and all-gathered over the mesh axis
   (one all-gather per step, as :class:`ShardedCSR` does);
2. the gathered words go into a spike history of the last ``max(d) + 1`` steps, kept
   packed (``L x m / 8`` bytes instead of ``4 L m``) and the same on every device;
3. each device reads, for each of its synapses, the bit of its presynaptic neuron ``d``
   steps back and sums ``w`` into its local columns.

A column's inputs are summed in CSR order, as on one device, so the result is
bit-identical to :class:`~brainsim.projections.HeteroDelayCSR`.
"""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

from .. import environ
from .._dynamics import DynamicsModule
from .._state import LongTermState, ShortTermState
from ..event import CSC, CSR
from ..event._units import split_unit, wrap_unit
from ..projections._delay import check_dt_unchanged, delay_steps
from ..transforms._shard_map import shard_map
from ._conn import _WORD, _pack
from ._mesh import split_axis
from ._place import global_array

__all__ = ["ShardedHeteroDelayCSR"]


class ShardedHeteroDelayCSR(DynamicsModule):
    r"""A CSR connection with a delay per synapse, its columns split over a mesh.

    Use it as the ``comm`` of a projection in a model placed by :func:`shard_model`, where
    :class:`~brainsim.projections.HeteroDelayCSR` would be used on one device:

    .. math:: y_j(n) = \sum_{k:\ \mathrm{post}(k) = j} w_k\, s_{\mathrm{pre}(k)}(n - d_k)

    The spikes are events (nonzero = a spike), as for :class:`ShardedCSR`. Each step costs
    one all-gather of ``m / 32`` words and a visit of every local synapse (O(synapses / D)
    per device). Its states (the per-device synapse blocks and the history) are laid out for
    the mesh size, so a checkpoint of it restores onto a mesh of the same size only
    (:func:`shard_model` and :func:`restore_sharded` refuse another size, naming both).

    Parameters
    ----------
    conn : brainsim.event.CSR
        The whole matrix ``(m, n)``: rows = presynaptic neurons (global indices),
        columns = postsynaptic neurons; scalar or per-synapse weights, with units.
    delays : Quantity (time), shape ``(nse,)`` or scalar
        Per-synapse delays in CSR order, multiples of ``dt`` (read when the states are
        initialised).
    mesh : jax.sharding.Mesh
        The mesh the populations are split over (see :func:`make_mesh`); ``m`` and ``n``
        must be multiples of its size.
    axis : str, optional
        The mesh axis; default: the mesh's only axis.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp, numpy as np
    >>> from brainsim import event, sharding
    >>> M = event.CSR.from_coo([0, 0], [0, 1], np.float32(1.), shape=(1, 2))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     c = sharding.ShardedHeteroDelayCSR(M, [1., 3.] * u.ms, sharding.make_mesh(1))
    ...     c = brainsim.init_states(c)
    ...     y = brainsim.for_loop(lambda s: c(s), jnp.array([[1.], [0.], [0.], [0.], [0.]]))
    >>> np.asarray(y).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    __module__ = "brainsim.sharding"

    def __init__(self, conn: Any, delays: Any, mesh: Mesh, axis: str | None = None,
                 name: str | None = None):
        if not isinstance(conn, CSR) or isinstance(conn, CSC):
            raise TypeError(f"ShardedHeteroDelayCSR: conn must be a brainsim.event.CSR (rows = "
                            f"presynaptic neurons), got {type(conn).__name__}. How to fix: "
                            "event.CSR.from_coo(pre, post, weights, shape=(n_pre, n_post)).")
        m, n = conn.shape
        axis, D = split_axis("ShardedHeteroDelayCSR", mesh, axis,
                             {"presynaptic": m, "postsynaptic": n})
        super().__init__(n, name=name)
        self.shape, self.mesh, self.axis, self.delays = (m, n), mesh, axis, delays
        self._unit = conn.unit
        indptr, indices = np.asarray(conn.indptr), np.asarray(conn.indices)
        self._nse = int(indices.shape[0])
        rows = np.repeat(np.arange(m), np.diff(indptr))
        dev = indices // (n // D)
        # each device's synapses, in CSR order (rows ascending): the order a column's
        # inputs are summed in on one device
        self._sel = [np.flatnonzero(dev == d) for d in range(D)]
        width = max(1, max(s.shape[0] for s in self._sel))
        pad = lambda a, fill, dtype: np.stack([          # noqa: E731
            np.concatenate([a[s], np.full(width - s.shape[0], fill, dtype)]).astype(dtype)
            for s in self._sel])
        # where each synapse's presynaptic bit sits in the gathered words (source device,
        # word, bit), worked out once here rather than from the row index every step
        per = m // D
        src = np.stack([rows // per, (rows % per) // _WORD, (rows % per) % _WORD])
        # a padded synapse points past the local columns: segment_sum drops it
        cols = pad(indices - dev * (n // D), n // D, np.int32)
        data = np.asarray(conn.data)          # the mantissa; the unit is conn.unit
        self._shared = data.ndim == 0
        w = data if self._shared else pad(data, 0, data.dtype)
        self._pad = pad
        self.arrays = LongTermState(
            (global_array(w, mesh, P() if self._shared else P(axis)),
             global_array(np.stack([pad(x, 0, np.int32) for x in src], axis=1), mesh,
                          P(axis)),
             global_array(cols, mesh, P(axis))),
            name="ShardedHeteroDelayCSR arrays")
        self._words = -(-per // _WORD)

    def init_state(self, batch_size: int | None = None) -> None:
        d = delay_steps(self.delays, "delays")
        if d.ndim and d.shape != (self._nse,):
            raise ValueError(f"ShardedHeteroDelayCSR: delays must be a scalar or shape "
                             f"({self._nse},) (one per synapse in CSR order), got {d.shape}.")
        d = np.broadcast_to(d, (self._nse,))
        self.L = int(d.max()) + 1 if d.size else 1
        object.__setattr__(self, "_bs_dt", environ.get_dt() if self.L > 1 else None)
        self.d = LongTermState(global_array(self._pad(d, 0, np.int32), self.mesh, P(self.axis)),
                               name="ShardedHeteroDelayCSR delays")
        D = self.mesh.shape[self.axis]
        self.history = ShortTermState(global_array(
            np.zeros((self.L, D, self._words), np.uint32), self.mesh, P()))
        self.pointer = ShortTermState(jnp.zeros((), jnp.int32))

    def _placement_specs(self, mesh: Mesh, axis: str) -> dict[str, list]:
        """The specs :func:`shard_model` and :func:`restore_sharded` give this module's states:
        the synapse blocks stay one per device, the history and pointer are replicated
        (the shape rule would replicate the blocks, or split a history whose word count
        equals the number of columns)."""
        D = self.mesh.shape[self.axis]
        if axis != self.axis or mesh.shape.get(axis) != D:
            raise ValueError(
                f"ShardedHeteroDelayCSR: it was built for a mesh of {D} devices (its synapses "
                f"are in {D} blocks), but the model is being placed on a mesh of "
                f"{mesh.shape.get(axis)} devices along axis {axis!r}. Build the connection "
                "with the mesh the model is placed on.")
        block = P(self.axis)
        return {"arrays": [P() if self._shared else block, block, block], "d": [block],
                "history": [None], "pointer": [None]}

    @property
    def unit(self) -> Any:
        """The unit of the weights, hence of the input this returns."""
        return self._unit

    def update(self, spike: Any) -> Any:
        check_dt_unchanged(self, self._bs_dt, lambda: f"the spike history ({self.L} steps)")
        s, _ = split_unit(spike)
        m, n = self.shape
        if np.shape(s) != (m,):
            raise ValueError(f"ShardedHeteroDelayCSR: spikes must have shape ({m},) (one per "
                             f"presynaptic neuron), got {np.shape(s)}.")
        D, axis, L = self.mesh.shape[self.axis], self.axis, self.L
        p = self.pointer.value
        w, src, cols = self.arrays.value
        shared = self._shared

        def local(s_loc, hist, p, w, src, cols, d):
            words = jax.lax.all_gather(_pack(s_loc), axis, tiled=False)     # (D, words)
            hist = jax.lax.dynamic_update_index_in_dim(hist, words, p, axis=0)
            dev, wd, b = src[0]
            word = hist[(p - d[0]) % L, dev, wd]
            bit = ((word >> b.astype(jnp.uint32)) & 1).astype(jnp.float32)
            y = jax.ops.segment_sum(bit * (w if shared else w[0]), cols[0],
                                    num_segments=n // D)
            return y, hist

        y, hist = shard_map(
            local, self.mesh,
            (P(axis), P(), P(), P() if shared else P(axis), P(axis), P(axis), P(axis)),
            (P(axis), P()))(s, self.history.value, p, w, src, cols, self.d.value)
        self.history.value = hist
        self.pointer.value = (p + 1) % L
        return wrap_unit(y, self._unit)

    def __repr__(self):
        return (f"ShardedHeteroDelayCSR(shape={self.shape}, synapses={self._nse}, "
                f"devices={self.mesh.shape[self.axis]}, axis={self.axis!r})")
