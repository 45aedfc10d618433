"""Fixed fan-out / fan-in connectivity: every row (or column) has exactly k entries."""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_matrix_shape
from ._base import SparseMatrix
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["FixedNumPerPre", "FixedNumPerPost"]


@dataclass(frozen=True)
class _EllSpec:
    """Row generator for an operator of shape (p, q) stored as a (p, L) index table."""
    p: int
    q: int
    L: int

    def gen(self, theta, struct, rows):
        (w,) = theta
        (indices,) = struct
        cols = jnp.take(indices, rows, axis=0)
        vals = jnp.broadcast_to(w, cols.shape) if jnp.ndim(w) == 0 else jnp.take(w, rows, axis=0)
        return cols, vals, jnp.ones(cols.shape, bool)

    def kernel_csr(self, theta, struct):
        """The (p, L) table as CSR arrays: row i holds entries i*L .. (i+1)*L (a constant indptr)."""
        (w,) = theta
        (indices,) = struct
        if self.p * self.L >= 2 ** 31:
            return None
        indptr = np.arange(self.p + 1, dtype=np.int32) * np.int32(self.L)
        return w.reshape(-1), indices.reshape(-1), jnp.asarray(indptr)


@jax.tree_util.register_pytree_node_class
class FixedNumPerPre(SparseMatrix):
    """Each presynaptic row ``i`` of an ``(m, n)`` matrix has exactly ``k`` targets ``indices[i]``.

    Parameters
    ----------
    args : tuple
        ``(weights, indices)``; ``indices`` has shape ``(m, k)`` with values in ``[0, n)``;
        ``weights`` is a scalar or ``(m, k)`` (brainunit Quantity allowed).
    shape : tuple of int
        ``(m, n)``.
    validate : bool
        Also check traced indices at run time.

    Notes
    -----
    ``spikes @ M`` gathers the ``k`` targets of each active row only: O(active x k).

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> M = ev.FixedNumPerPre((2.0, np.array([[0, 2], [1, 2]])), shape=(2, 3))
    >>> (ev.BinaryArray(np.array([1, 1])) @ M).tolist()
    [2.0, 2.0, 4.0]
    """

    __module__ = "brainsim.event"
    _transposed = False

    def __init__(self, args, *, shape, validate: bool = False):
        weights, indices = args
        name = type(self).__name__
        self.shape = check_matrix_shape(name, shape)
        check_finite(name, weights=weights)
        p, q = self._rowshape()
        if not is_traced(indices):
            indices = np.asarray(indices)
        if not jnp.issubdtype(indices.dtype, jnp.integer):
            raise TypeError(f"{name}: indices must be an integer array, got dtype {indices.dtype}")
        if indices.ndim != 2 or indices.shape[0] != p:
            raise ValueError(f"{name}: indices must have shape ({p}, k) for shape {self.shape}, "
                             f"got {indices.shape}")
        if not is_traced(indices):
            if indices.size and (indices.min() < 0 or indices.max() >= q):
                bad = indices[(indices < 0) | (indices >= q)][0]
                raise ValueError(f"{name}: index {bad} out of range [0, {q}) for shape {self.shape}")
        elif validate:
            def check(ind):
                ind = np.asarray(ind)
                if ind.size and (ind.min() < 0 or ind.max() >= q):
                    raise ValueError(f"{name}: index out of range [0, {q}) for shape {self.shape}")
            jax.debug.callback(check, indices)
        self.indices = jnp.asarray(indices, jnp.int32)
        w, self.unit = split_unit(weights)
        w = w if is_traced(w) else jnp.asarray(w)
        if not jnp.issubdtype(w.dtype, jnp.inexact):
            w = w.astype(jnp.float32)
        if w.ndim != 0 and w.shape != self.indices.shape:
            raise ValueError(f"{name}: weights must be a scalar or have shape {self.indices.shape}, got {w.shape}")
        self.data = w

    def _rowshape(self):
        return self.shape[::-1] if self._transposed else self.shape

    def tree_flatten(self):
        return (self.data, self.indices), (self.shape, self.unit)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.data, obj.indices = children
        obj.shape, obj.unit = aux
        return obj

    @property
    def num(self) -> int:
        """Connections per row (per column for FixedNumPerPost)."""
        return int(self.indices.shape[1])

    @property
    def nse(self) -> int:
        return int(self.indices.shape[0] * self.indices.shape[1])

    @property
    def weight(self):
        return wrap_unit(self.data, self.unit)

    def with_data(self, weights):
        """Same connectivity, new weights (scalar or the shape of ``indices``)."""
        check_finite(type(self).__name__, weights=weights)
        w, unit = split_unit(weights)
        w = jnp.asarray(w)
        if w.ndim != 0 and w.shape != self.indices.shape:
            raise ValueError(f"with_data: expected a scalar or shape {self.indices.shape}, got {w.shape}")
        return self.tree_unflatten((self.shape, unit), (w, self.indices))

    @property
    def T(self):
        """Transpose: a FixedNumPerPre becomes a FixedNumPerPost over the same arrays."""
        other = FixedNumPerPost if type(self) is FixedNumPerPre else FixedNumPerPre
        return other.tree_unflatten((self.shape[::-1], self.unit), (self.data, self.indices))

    def _op(self):
        p, q = self._rowshape()
        return _EllSpec(p, q, self.num), (self.data,), (self.indices,), self._transposed, self.unit

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, num={self.num})"


@jax.tree_util.register_pytree_node_class
class FixedNumPerPost(FixedNumPerPre):
    """Each postsynaptic column ``j`` of an ``(m, n)`` matrix has exactly ``k`` sources ``indices[j]``.

    ``indices`` has shape ``(n, k)`` with values in ``[0, m)``. ``M @ x`` is event-driven in x;
    ``spikes @ M`` gathers, for every column, its k sources: O(n x k).

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> M = ev.FixedNumPerPost((1.0, np.array([[0], [0], [1]])), shape=(2, 3))
    >>> (np.array([1., 0.], np.float32) @ M).tolist()
    [1.0, 1.0, 0.0]
    """

    __module__ = "brainsim.event"
    _transposed = True
