"""Connectivity split by postsynaptic neuron, for event products inside ``shard_map``.

A :class:`ShardedCSR` holds, for each device of the mesh, the CSR block of the synapses onto
that device's postsynaptic neurons: all ``m`` presynaptic rows (global indices), the local
columns only. Each step ``BinaryArray(spikes) @ W``:

1. packs the local spikes into uint32 words (32 per word),
2. all-gathers the words over the mesh axis (one all-gather per product),
3. unpacks them into the full presynaptic spike vector, and
4. runs the event product (on CPU the compiled FFI kernel) on the local block, giving the
   input of the local postsynaptic neurons.

Everything runs per shard inside :func:`jax.shard_map`, so the FFI call is never gathered or
replicated. Each output column sums its presynaptic contributions in increasing row order, as
the one-device product does, so the result is bit-identical to it.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec as P

from .._state import LongTermState
from ..transforms._shard_map import shard_map
from ..event import BinaryArray, CSR
from ..event._units import split_unit, wrap_unit
from ._mesh import AXIS, split_axis
from ._place import global_array

__all__ = ["ShardedCSR"]

_WORD = 32


def _pack(s: jax.Array) -> jax.Array:
    """(k,) events -> (ceil(k / 32),) uint32 words; bit b of word w is entry 32 w + b."""
    k = s.shape[0]
    bits = jnp.pad(s != 0, (0, (-k) % _WORD)).reshape(-1, _WORD).astype(jnp.uint32)
    return jnp.sum(bits << jnp.arange(_WORD, dtype=jnp.uint32), axis=1, dtype=jnp.uint32)


def _unpack(words: jax.Array, k: int) -> jax.Array:
    """(D, W) words of D shards of k events each -> (D * k,) bool."""
    bits = (words[..., None] >> jnp.arange(_WORD, dtype=jnp.uint32)) & 1
    return bits.reshape(words.shape[0], -1)[:, :k].reshape(-1).astype(bool)


def _split_columns(indices, indptr, data, m, n, D):
    """Per-device CSR blocks of the columns ``[d * n / D, (d + 1) * n / D)``, padded to one size."""
    nloc = n // D
    rows = np.repeat(np.arange(m), np.diff(indptr))
    dev = indices // nloc
    blocks = []
    for d in range(D):
        sel = dev == d
        r = rows[sel]
        ptr = np.concatenate([[0], np.cumsum(np.bincount(r, minlength=m))]).astype(np.int32)
        blocks.append((indices[sel] - d * nloc, ptr, None if data is None else data[sel]))
    nse = max(1, max(b[0].shape[0] for b in blocks))
    L = max(int(np.max(np.diff(b[1]))) if m else 0 for b in blocks)
    idx = np.zeros((D, nse), np.int32)
    ptr = np.stack([b[1] for b in blocks])
    dat = None if data is None else np.zeros((D, nse), data.dtype)
    for d, (i, _, v) in enumerate(blocks):
        idx[d, :i.shape[0]] = i
        if dat is not None:
            dat[d, :i.shape[0]] = v
    return idx, ptr, dat, L


class ShardedCSR:
    """A CSR matrix ``(m, n)`` whose columns (postsynaptic neurons) are split over a mesh.

    Parameters
    ----------
    csr : brainsim.event.CSR
        The whole matrix, rows = presynaptic neurons (global indices), columns =
        postsynaptic neurons; scalar (shared) or per-synapse weights, with units.
    mesh : jax.sharding.Mesh
        The mesh the postsynaptic population is split over (see :func:`make_mesh`).
    axis : str, optional
        The mesh axis; default: the mesh's only axis.

    Notes
    -----
    Only ``BinaryArray(spikes) @ W`` is defined, with ``spikes`` of shape ``(m,)`` split over
    the same axis (a population placed by :func:`shard_model`). It costs one all-gather of
    ``m / 32`` words per call, then the local event product. ``m`` and ``n`` must be
    multiples of the mesh size.

    .. math:: y_j = \\sum_{i:\\,s_i \\ne 0} W_{ij}, \\quad j \\text{ on this device}

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> from brainsim import sharding
    >>> W = ev.CSR.from_dense(np.array([[0., 2.], [1., 0.]], np.float32))
    >>> Ws = sharding.ShardedCSR(W, sharding.make_mesh(1))
    >>> (ev.BinaryArray(np.array([True, True])) @ Ws).tolist()
    [1.0, 2.0]
    """

    __module__ = "brainsim.sharding"

    def __init__(self, csr: CSR, mesh: Mesh, axis: str | None = None):
        if type(csr) is not CSR:
            raise TypeError(f"ShardedCSR: csr must be a brainsim.event.CSR, got "
                            f"{type(csr).__name__}; convert with CSR.from_dense or CSR.from_coo.")
        m, n = csr.shape
        axis, D = split_axis("ShardedCSR", mesh, axis, {"presynaptic": m, "postsynaptic": n})
        data = np.asarray(csr.data)
        shared = data.ndim == 0
        idx, ptr, dat, L = _split_columns(np.asarray(csr.indices), np.asarray(csr.indptr),
                                          None if shared else data, m, n, D)
        self.shape, self.unit, self.mesh, self.axis, self.max_row = (m, n), csr.unit, mesh, axis, L
        # held in a state, so that compiled programs take them as arguments: a program may
        # not close over arrays that span several processes (nor should it embed them)
        self.arrays = LongTermState(
            ((global_array(data, mesh, P()) if shared else global_array(dat, mesh, P(axis))),
             global_array(idx, mesh, P(axis)), global_array(ptr, mesh, P(axis))),
            name="ShardedCSR arrays")

    def __rmatmul__(self, spikes: Any) -> Any:
        return self._product(spikes, left=True)

    def _product(self, spikes: Any, left: bool) -> Any:
        if not left or not isinstance(spikes, BinaryArray):
            raise TypeError(f"ShardedCSR: only BinaryArray(spikes) @ W is defined, got "
                            f"{type(spikes).__name__} @ ShardedCSR.")
        s, _ = split_unit(spikes.value)
        m, n = self.shape
        if s.shape != (m,):
            raise ValueError(f"ShardedCSR: spikes must have shape ({m},) (one per presynaptic "
                             f"neuron), got {s.shape}.")
        D, axis, L = self.mesh.shape[self.axis], self.axis, self.max_row
        data, indices, indptr = self.arrays.value
        shared = data.ndim == 0

        def local(s_loc, data, indices, indptr):
            words = jax.lax.all_gather(_pack(s_loc), axis, tiled=False)
            full = _unpack(words, m // D)
            blk = CSR((data if shared else data[0], indices[0], indptr[0]),
                      shape=(m, n // D), max_row=L)
            return BinaryArray(full) @ blk

        out = shard_map(local, self.mesh,
                         (P(axis), P() if shared else P(axis), P(axis), P(axis)), P(axis))(
            s, data, indices, indptr)
        return wrap_unit(out, self.unit)

    def __repr__(self):
        return (f"ShardedCSR(shape={self.shape}, devices={self.mesh.shape[self.axis]}, "
                f"axis={self.axis!r})")
