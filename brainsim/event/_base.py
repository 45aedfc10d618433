"""Shared product dispatch for the sparse matrix types (shape checks, units, vmap-able batching)."""
from __future__ import annotations

from functools import partial

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from ._active import concrete_cap
from ._backend import use_kernel
from ._engine import product

# one compiled program per (format, direction, capacity) instead of op-by-op dispatch when eager
_product = jax.jit(product, static_argnums=(0, 1, 2, 3, 4))
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["SparseMatrix", "operand_of", "check_seed"]


def operand_of(x):
    """Split a right/left operand into ``(mantissa array, unit, binary?, overflowed or None)``."""
    from ._binary import BinaryArray, BitPackedBinary, CompactBinary

    if isinstance(x, BinaryArray):
        return x.value, None, True, None
    if isinstance(x, BitPackedBinary):
        return x.unpack(), None, True, None
    if isinstance(x, CompactBinary):
        return x.to_dense(), None, True, x.overflow_flag()
    m, unit = split_unit(x)
    return jnp.asarray(m), unit, False, None


def _auto_cap(X2, p):
    """A static capacity when the operand is concrete (so cost follows the active count)."""
    if is_traced(X2):
        return None
    count = int(np.max(np.count_nonzero(np.asarray(X2), axis=1))) if X2.size else 0
    return concrete_cap(count, p)


class SparseMatrix(u.sparse.SparseMatrix):
    """Base class: subclasses define ``shape`` and ``_op() -> (spec, theta, struct, transposed, unit)``.

    ``spec`` describes a row-structured operator A; the matrix is A, or A.T when ``transposed``.
    Deriving from brainunit's sparse base makes ``Quantity @ M`` hand over to ``M.__rmatmul__``
    (brainunit recognises its sparse matrices that way) instead of wrapping M as a mantissa.
    """

    shape: tuple
    __hash__ = object.__hash__  # brainunit's base is unhashable; these objects hash by identity

    # numpy would otherwise try to broadcast ndarray @ matrix itself
    __array_priority__ = 1000
    __array_ufunc__ = None

    @property
    def dtype(self):
        spec, theta, *_ = self._op()
        return jnp.result_type(*jax.tree.leaves(theta))

    def _product(self, x, left: bool):
        """``x @ self`` if left else ``self @ x``."""
        spec, theta, struct, transposed, wunit = self._op()
        X, xunit, binary, overflowed = operand_of(x)
        m, n = self.shape
        if X.ndim not in (1, 2):
            raise ValueError(f"operand must be 1-D or 2-D, got shape {X.shape} for matrix shape {self.shape}")
        if left:
            k = X.shape[-1]
            if k != m:
                raise ValueError(
                    f"shape mismatch in x @ M: x has shape {X.shape} but M has shape {self.shape}; "
                    f"the last axis of x must equal M.shape[0]={m}")
            X2 = X.reshape(1, -1) if X.ndim == 1 else X
        else:
            k = X.shape[0]
            if k != n:
                raise ValueError(
                    f"shape mismatch in M @ x: M has shape {self.shape} but x has shape {X.shape}; "
                    f"the first axis of x must equal M.shape[1]={n}")
            X2 = X.reshape(1, -1) if X.ndim == 1 else X.T
        # X2 rows are batch entries. x @ M with M = A        -> scatter over A's rows
        #                            x @ M with M = A.T      -> gather  (A @ x)
        #                            M @ x = x @ M.T         -> the opposite
        scatter = left != transposed
        direction = "scatter" if scatter else "gather"
        cap = _auto_cap(X2, spec.p) if scatter else None
        kernel = use_kernel(spec)
        out = _product(spec, direction, binary, cap, kernel, theta, struct, X2)
        if X.ndim == 1:
            out = out[0]
        elif not left:
            out = out.T
        if overflowed is not None:
            # a truncated event list must not give a plausible number
            out = jnp.where(overflowed, jnp.nan, out)
        unit = wunit if xunit is None else wunit * xunit
        return wrap_unit(out, unit)

    def __matmul__(self, x):
        return self._product(x, left=False)

    def __rmatmul__(self, x):
        return self._product(x, left=True)

    def todense(self):
        """Dense ``(m, n)`` array (Quantity if the weights have units)."""
        spec, theta, struct, transposed, unit = self._op()
        return wrap_unit(_todense(spec, transposed, theta, struct), unit)


@partial(jax.jit, static_argnums=(0, 1))
def _todense(spec, transposed, theta, struct):
    # uses the same row generator as the products, so both always agree exactly
    rows = jnp.arange(spec.p, dtype=jnp.int32)
    cols, vals, mask = spec.gen(theta, struct, rows)
    cols = jnp.where(mask, cols, spec.q)
    A = jnp.zeros((spec.p, spec.q), vals.dtype).at[rows[:, None], cols].add(
        jnp.where(mask, vals, 0), mode="drop")
    return A.T if transposed else A


def check_seed(seed):
    """Reject non-integer seeds (floats would silently truncate)."""
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"seed must be an integer, got the bool {seed!r}")
    if isinstance(seed, (int, np.integer)):
        return jnp.asarray(seed, dtype=jnp.uint32) if seed >= 0 else jnp.asarray(seed & 0xFFFFFFFF, jnp.uint32)
    dt = getattr(seed, "dtype", None)
    if dt is not None and jnp.issubdtype(dt, jnp.integer) and jnp.ndim(seed) == 0:
        return jnp.asarray(seed).astype(jnp.uint32)
    raise TypeError(f"seed must be an integer scalar, got {seed!r} of type {type(seed).__name__}; "
                    f"pass e.g. seed=0")
