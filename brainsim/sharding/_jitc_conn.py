"""Just-in-time connectivity split by postsynaptic neuron, for event products inside ``shard_map``.

A :class:`ShardedJITC` wraps a JIT matrix (``brainsim.event.JITC*``): nothing is stored but
its weight parameters and seed, replicated on every device. Each step
``BinaryArray(spikes) @ W``:

1. packs the local spikes into uint32 words and all-gathers them over the mesh axis (one
   all-gather per product, as :class:`ShardedCSR` does),
2. unpacks the full presynaptic spike vector,
3. runs the one-device JITC product (on CPU the compiled FFI kernel) on it, and
4. keeps the device's block of ``n / D`` postsynaptic columns.

The draw of a row walks its columns from 0 by geometric skipping, so it cannot start at a
column offset: every device repeats the whole draw, and the cost per device is that of the
one-device product (not divided by ``D``). Memory stays O(N) per device. As every device
computes exactly the one-device product, the result is bit-identical to it.
"""
from __future__ import annotations

from typing import Any

import jax
from jax.sharding import Mesh, PartitionSpec as P

from .._state import LongTermState
from ..event import BinaryArray
from ..event._jitc import _JITCBase
from ..event._units import split_unit, wrap_unit
from ..transforms._shard_map import shard_map
from ._conn import _pack, _unpack
from ._mesh import split_axis
from ._place import global_array

__all__ = ["ShardedJITC"]


class ShardedJITC:
    """A JIT connectivity matrix ``(m, n)`` whose columns (postsynaptic neurons) are split over a mesh.

    Parameters
    ----------
    jitc : brainsim.event.JITCScalarR, JITCNormalR, JITCUniformR or their C layouts
        The matrix, rows = presynaptic neurons, columns = postsynaptic neurons.
    mesh : jax.sharding.Mesh
        The mesh the populations are split over (see :func:`make_mesh`).
    axis : str, optional
        The mesh axis; default: the mesh's only axis.
    offset : int, optional
        The matrix rows are the spikes ``offset .. offset + m - 1`` of the spike vector
        (e.g. the inhibitory part of one population); default 0.
    n_pre : int, optional
        Length of the spike vector, split over the mesh; default ``m``.

    Notes
    -----
    Only ``BinaryArray(spikes) @ W`` is defined, with ``spikes`` of shape ``(n_pre,)`` split
    over the axis (a population placed by :func:`shard_model`). It costs one all-gather of
    ``n_pre / 32`` words per call, then the whole one-device JITC product on every device
    (the draw cannot start at a column offset, so it is repeated, not divided), of which each
    device keeps its ``n / D`` columns. ``n_pre`` and ``n`` must be multiples of the mesh size.

    .. math:: y_j = \\sum_{i:\\,s_{\\mathrm{offset}+i} \\ne 0} W_{ij}, \\quad j \\text{ on this device}

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> from brainsim import sharding
    >>> W = ev.JITCScalarR((0.5, 0.3, 0), shape=(8, 6))
    >>> Ws = sharding.ShardedJITC(W, sharding.make_mesh(1))
    >>> s = np.arange(8) % 3 == 0
    >>> bool(np.array_equal(ev.BinaryArray(s) @ Ws, ev.BinaryArray(s) @ W))
    True
    """

    __module__ = "brainsim.sharding"

    def __init__(self, jitc: Any, mesh: Mesh, axis: str | None = None, *, offset: int = 0,
                 n_pre: int | None = None):
        if not isinstance(jitc, _JITCBase):
            raise TypeError(f"ShardedJITC: jitc must be a brainsim.event JIT matrix "
                            f"(JITCScalarR, JITCNormalR, ...), got {type(jitc).__name__}; "
                            f"use ShardedCSR for stored connectivity.")
        m, n = jitc.shape
        n_pre = m if n_pre is None else int(n_pre)
        offset = int(offset)
        if offset < 0 or offset + m > n_pre:
            raise ValueError(f"ShardedJITC: rows offset={offset} .. {offset + m - 1} do not fit "
                             f"a spike vector of n_pre={n_pre}; expected 0 <= offset and "
                             f"offset + {m} <= n_pre.")
        axis, _ = split_axis("ShardedJITC", mesh, axis,
                             {"presynaptic": n_pre, "postsynaptic": n})
        leaves, self._treedef = jax.tree_util.tree_flatten(jitc.with_data(
            *(split_unit(x)[0] for x in jitc.params)))
        self.shape, self.unit, self.mesh, self.axis = (m, n), jitc.unit, mesh, axis
        self.offset, self.n_pre = offset, n_pre
        # weights and seed as replicated arguments of the compiled program, never constants
        # of it (a program may not close over arrays that span several processes)
        self.arrays = LongTermState(tuple(global_array(x, mesh, P()) for x in leaves),
                                    name="ShardedJITC arrays")

    def __rmatmul__(self, spikes: Any) -> Any:
        return self._product(spikes, left=True)

    def _product(self, spikes: Any, left: bool) -> Any:
        if not left or not isinstance(spikes, BinaryArray):
            raise TypeError(f"ShardedJITC: only BinaryArray(spikes) @ W is defined, got "
                            f"{type(spikes).__name__} @ ShardedJITC.")
        s, _ = split_unit(spikes.value)
        if s.shape != (self.n_pre,):
            raise ValueError(f"ShardedJITC: spikes must have shape ({self.n_pre},) (the whole "
                             f"presynaptic spike vector), got {s.shape}.")
        m, n = self.shape
        D, axis, off, treedef = self.mesh.shape[self.axis], self.axis, self.offset, self._treedef
        leaves = self.arrays.value
        nloc = n // D

        def local(s_loc, *leaves):
            words = jax.lax.all_gather(_pack(s_loc), axis, tiled=False)
            full = _unpack(words, self.n_pre // D)[off:off + m]
            W = jax.tree_util.tree_unflatten(treedef, leaves)
            y = BinaryArray(full) @ W
            return jax.lax.dynamic_slice_in_dim(y, jax.lax.axis_index(axis) * nloc, nloc)

        out = shard_map(local, self.mesh, (P(axis),) + (P(),) * len(leaves), P(axis))(s, *leaves)
        return wrap_unit(out, self.unit)

    def __repr__(self):
        return (f"ShardedJITC(shape={self.shape}, devices={self.mesh.shape[self.axis]}, "
                f"axis={self.axis!r}, offset={self.offset}, n_pre={self.n_pre})")
