"""Event-driven product of spikes with a dense weight matrix."""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

from ._active import bucket_caps, bucket_index, compact, concrete_cap
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["binary_dense_matmul"]


def _rows_sum(W, X, cap):
    """sum_i [X_bi != 0] W_i for X (B, m): gathers only active rows of W."""
    B, m = X.shape
    idx, _ = compact(X != 0, cap)
    valid = idx < m
    rows = jnp.take(W, jnp.where(valid, idx, 0), axis=0)  # (B, cap, n)
    return jnp.sum(jnp.where(valid[..., None], rows, 0), axis=1)


def _run(W, X, c):
    # past m/8 active rows a gather costs more than streaming W once: use the dense product
    if 8 * c >= X.shape[1]:
        return (X != 0).astype(W.dtype) @ W
    return _rows_sum(W, X, c)


def _event(W, X, cap):
    B, m = X.shape
    if m == 0:
        return jnp.zeros((B, W.shape[1]), W.dtype)
    if cap is not None:
        return _run(W, X, min(cap, m))
    caps = [c for c in bucket_caps(m) if 8 * c < m] + [m]
    which = bucket_index(caps, jnp.max(jnp.sum(X != 0, axis=1)))
    return lax.switch(which, [partial(lambda c, _: _run(W, X, c), c) for c in caps], None)


@partial(jax.custom_jvp, nondiff_argnums=(2,))
def _binary_matmul(W, X, cap):
    return _event(W, X, cap)


@partial(_binary_matmul.defjvp, symbolic_zeros=True)
def _binary_matmul_jvp(cap, primals, tangents):
    W, X = primals
    dW, dX = tangents
    out = _binary_matmul(W, X, cap)
    tan = jnp.zeros_like(out)
    if not isinstance(dW, SymbolicZero):
        tan = tan + _event(dW, X, cap)
    if not isinstance(dX, SymbolicZero):
        tan = tan + dX.astype(out.dtype) @ W  # straight-through: the float product's derivative
    return out, tan


def binary_dense_matmul(spikes, W, left: bool):
    """``spikes @ W`` (left) or ``W @ spikes``; only rows/columns of active entries are read."""
    Wm, unit = split_unit(W)
    Wm = jnp.asarray(Wm)
    X = spikes.value
    if Wm.ndim != 2:
        raise ValueError(f"BinaryArray product needs a 2-D weight matrix, got shape {Wm.shape}")
    if not jnp.issubdtype(Wm.dtype, jnp.inexact):
        Wm = Wm.astype(jnp.float32)
    if left:
        if X.shape[-1] != Wm.shape[0]:
            raise ValueError(f"shape mismatch in spikes @ W: spikes have shape {X.shape}, W has shape {Wm.shape}")
        Wr, X2 = Wm, (X[None] if X.ndim == 1 else X)
    else:
        if X.shape[0] != Wm.shape[1]:
            raise ValueError(f"shape mismatch in W @ spikes: W has shape {Wm.shape}, spikes have shape {X.shape}")
        Wr, X2 = Wm.T, (X[None] if X.ndim == 1 else X.T)
    cap = None
    if not is_traced(X2):
        import numpy as np
        cnt = int(np.max(np.count_nonzero(np.asarray(X2), axis=1))) if X2.size else 0
        cap = concrete_cap(cnt, X2.shape[1])
    out = _binary_matmul(Wr, X2, cap)
    if X.ndim == 1:
        out = out[0]
    elif not left:
        out = out.T
    return wrap_unit(out, unit)
