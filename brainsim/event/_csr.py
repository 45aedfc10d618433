"""Compressed sparse row / column matrices with event-driven products."""
from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_matrix_shape
from ._base import SparseMatrix
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["CSR", "CSC"]


@dataclass(frozen=True)
class _CSRSpec:
    """Row generator of a CSR operator of shape (p, q) whose longest row has L entries."""
    p: int
    q: int
    L: int

    def gen(self, theta, struct, rows):
        (data,) = theta
        indices, indptr = struct
        start = indptr[rows]
        length = indptr[rows + 1] - start
        slot = jnp.arange(self.L, dtype=jnp.int32)
        mask = slot[None, :] < length[:, None]
        syn = jnp.where(mask, start[:, None] + slot[None, :], 0)
        cols = jnp.take(indices, syn, mode="fill", fill_value=0)
        if jnp.ndim(data) == 0:
            vals = jnp.broadcast_to(data, syn.shape)
        else:
            vals = jnp.take(data, syn, mode="fill", fill_value=0)
        return cols, vals, mask

    def kernel_csr(self, theta, struct):
        """``(data, indices, indptr)`` for the compiled kernel (data of length 1 if shared)."""
        (data,) = theta
        indices, indptr = struct
        return data.reshape(-1), indices, indptr


def _validate_np(indices, indptr, shape, name):
    m, n = shape
    if indptr.ndim != 1 or indptr.shape[0] != m + 1:
        raise ValueError(f"{name}: indptr must have shape ({m + 1},) for {m} rows, got {indptr.shape}")
    if indptr.shape[0] and indptr[0] != 0:
        raise ValueError(f"{name}: indptr[0] must be 0, got {indptr[0]}")
    if np.any(np.diff(indptr) < 0):
        raise ValueError(f"{name}: indptr must be non-decreasing")
    if indptr[-1] != indices.shape[0]:
        raise ValueError(f"{name}: indptr[-1]={indptr[-1]} must equal len(indices)={indices.shape[0]}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)][0]
        raise ValueError(f"{name}: index {bad} out of range [0, {n}) for shape {shape}")
    if indices.size > 1:
        d = np.diff(indices)
        rowstart = np.zeros(indices.shape[0] - 1, bool)
        ip = indptr[1:-1]
        rowstart[ip[(ip > 0) & (ip < indices.shape[0])] - 1] = True
        if np.any((d < 0) & ~rowstart):
            raise ValueError(f"{name}: indices must be sorted within each row; sort them "
                             f"(e.g. build with {name}.from_coo) ")


def _validate_traced(indices, indptr, shape, name):
    m, n = shape

    def check(ind, ptr):
        _validate_np(np.asarray(ind), np.asarray(ptr), shape, name)

    jax.debug.callback(check, indices, indptr)


def _coerce_index(a, what, name):
    a = a if is_traced(a) else np.asarray(a)
    if not jnp.issubdtype(a.dtype, jnp.integer):
        raise TypeError(f"{name}: {what} must be an integer array, got dtype {a.dtype}")
    return a


@jax.tree_util.register_pytree_node_class
class CSR(SparseMatrix):
    """Compressed sparse row matrix of shape ``(m, n)`` (rows = presynaptic neurons).

    Parameters
    ----------
    args : tuple
        ``(data, indices, indptr)``. ``data`` is a scalar (homogeneous weight) or has shape
        ``(nse,)``; may be a brainunit Quantity. ``indices`` (nse,) are column indices sorted
        within each row; ``indptr`` (m + 1,) are row offsets.
    shape : tuple of int
        ``(m, n)``.
    validate : bool
        Check traced index arrays at run time too (Python data is always checked).
    max_row : int, optional
        Length of the longest row; computed from concrete ``indptr``. Needed for event-driven
        products when constructing from traced arrays (else ``min(n, nse)`` is assumed).

    Notes
    -----
    ``spikes @ M`` costs O(active rows x longest row); ``M @ x`` visits every synapse.

    .. math:: (x M)_j = \\sum_{i:\\,x_i \\ne 0} x_i M_{ij}

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> W = np.array([[0., 2., 0.], [1., 0., 3.]], np.float32)
    >>> M = ev.CSR.from_dense(W)
    >>> (ev.BinaryArray(np.array([True, True])) @ M).tolist()
    [1.0, 2.0, 3.0]
    """

    __module__ = "brainsim.event"

    def __init__(self, args, *, shape, validate: bool = False, max_row: int | None = None):
        data, indices, indptr = args
        name = type(self).__name__
        self.shape = check_matrix_shape(name, shape)
        check_finite(name, data=data)
        self.indices = _coerce_index(indices, "indices", name)
        self.indptr = _coerce_index(indptr, "indptr", name)
        data, self.unit = split_unit(data)
        self.data = jnp.asarray(data) if not is_traced(data) else data
        if not jnp.issubdtype(self.data.dtype, jnp.inexact):
            self.data = self.data.astype(jnp.float32)
        if self.data.ndim not in (0, 1) or (self.data.ndim == 1 and self.data.shape[0] != self.indices.shape[0]):
            raise ValueError(f"{name}: data must be a scalar or have shape ({self.indices.shape[0]},) "
                             f"matching indices, got {self.data.shape}")
        if not is_traced(self.indices, self.indptr):
            _validate_np(np.asarray(self.indices), np.asarray(self.indptr), self._rowshape(), name)
            if max_row is None:
                ip = np.asarray(self.indptr)
                max_row = int(np.max(np.diff(ip))) if ip.shape[0] > 1 else 0
        elif validate:
            _validate_traced(self.indices, self.indptr, self._rowshape(), name)
        if max_row is None:
            max_row = min(self._rowshape()[1], int(self.indices.shape[0]))
        self.max_row = int(max_row)
        self.indices = jnp.asarray(self.indices, jnp.int32)
        self.indptr = jnp.asarray(self.indptr, jnp.int32)

    def _rowshape(self):
        return self.shape

    # --- pytree -------------------------------------------------------------
    def tree_flatten(self):
        return (self.data, self.indices, self.indptr), (self.shape, self.unit, self.max_row)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.data, obj.indices, obj.indptr = children
        obj.shape, obj.unit, obj.max_row = aux
        return obj

    # --- construction -------------------------------------------------------
    @classmethod
    def from_dense(cls, W):
        """Build from a dense ``(m, n)`` array (Quantity allowed); zeros are not stored."""
        Wm, unit = split_unit(W)
        Wm = np.asarray(Wm)
        if Wm.ndim != 2:
            raise ValueError(f"{cls.__name__}.from_dense: W must be a 2-D (m, n) array, got shape {Wm.shape}")
        check_finite(cls.__name__, W=Wm)
        if cls is CSC:
            Wm = Wm.T
        rows, cols = np.nonzero(Wm)
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=Wm.shape[0]))]).astype(np.int32)
        data = wrap_unit(jnp.asarray(Wm[rows, cols]), unit)
        shape = Wm.shape[::-1] if cls is CSC else Wm.shape
        return cls((data, cols.astype(np.int32), indptr), shape=shape)

    @classmethod
    def from_coo(cls, pre, post, data=1.0, *, shape):
        """Build from (pre, post) index lists; ``data`` is a scalar or one value per pair."""
        pre = np.asarray(pre)
        post = np.asarray(post)
        if pre.shape != post.shape or pre.ndim != 1:
            raise ValueError(f"pre and post must be 1-D of equal length, got {pre.shape} and {post.shape}")
        m, n = check_matrix_shape(f"{cls.__name__}.from_coo", shape)
        for a, lim, nm in ((pre, m, "pre"), (post, n, "post")):
            if a.size and (a.min() < 0 or a.max() >= lim):
                raise ValueError(f"{nm} index out of range [0, {lim}) for shape {(m, n)}")
        major, minor, p = (pre, post, m) if cls is CSR else (post, pre, n)
        order = np.lexsort((minor, major))
        dm, unit = split_unit(data)
        check_finite(f"{cls.__name__}.from_coo", data=dm)
        dm = dm if isinstance(dm, (int, float)) else np.asarray(dm)
        if np.ndim(dm):
            if dm.shape != pre.shape:
                raise ValueError(f"data must be scalar or shape {pre.shape}, got {dm.shape}")
            dm = dm[order]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=p))]).astype(np.int32)
        # the constructor keeps float dtypes (float64 under x64) and makes other dtypes float32
        return cls((wrap_unit(jnp.asarray(dm), unit),
                    minor[order].astype(np.int32), indptr), shape=(m, n))

    @property
    def nse(self) -> int:
        """Number of stored synaptic entries."""
        return int(self.indices.shape[0])

    @property
    def weight(self):
        """The weights (with units)."""
        return wrap_unit(self.data, self.unit)

    def with_data(self, data):
        """Same structure, new weights (scalar or one per stored entry)."""
        obj = self.tree_unflatten((self.shape, self.unit, self.max_row), (self.data, self.indices, self.indptr))
        check_finite(type(self).__name__, data=data)
        d, obj.unit = split_unit(data)
        d = jnp.asarray(d)
        if d.ndim not in (0, 1) or (d.ndim == 1 and d.shape[0] != self.nse):
            raise ValueError(f"with_data: expected a scalar or shape ({self.nse},), got {d.shape}")
        obj.data = d
        return obj

    @property
    def T(self):
        """The transpose; a CSR becomes a CSC over the same arrays (no copy)."""
        other = CSC if type(self) is CSR else CSR
        return other.tree_unflatten((self.shape[::-1], self.unit, self.max_row), (self.data, self.indices, self.indptr))

    def _op(self):
        m, n = self._rowshape()
        spec = _CSRSpec(m, n, self.max_row)
        return spec, (self.data,), (self.indices, self.indptr), type(self) is CSC, self.unit

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, nse={self.nse}, dtype={self.data.dtype})"


@jax.tree_util.register_pytree_node_class
class CSC(CSR):
    """Compressed sparse column matrix of shape ``(m, n)``; the CSR arrays of its transpose.

    ``indptr`` has shape ``(n + 1,)`` and ``indices`` are row indices sorted within each column.
    ``M @ spikes`` is event-driven; ``x @ M`` visits every synapse.

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> W = np.array([[0., 2.], [1., 0.], [0., 3.]], np.float32)
    >>> (ev.CSC.from_dense(W) @ np.array([1., 1.], np.float32)).tolist()
    [2.0, 1.0, 3.0]
    """

    __module__ = "brainsim.event"

    def _rowshape(self):
        return self.shape[::-1]
