"""Event-driven product of spikes with a dense weight matrix, and its weight gradient.

Two primitives, each linear in its first operand and the transpose of the other:

* ``rows_p(W, X)``: ``[X != 0] @ W`` for ``W (..., m, n)``, ``X (..., B, m)``: the sum of the rows
  of ``W`` at the events of each row of ``X``;
* ``rows_t_p(G, X)``: ``[X != 0]^T @ G`` for ``G (..., B, n)``: the weight gradient of the first,
  the sum of the rows of ``G`` at the events of each column of ``X``.

Leading (lane) dimensions come from ``vmap``; each is of size 1 where an operand is shared. The
derivative w.r.t. ``X`` is the float product's (straight-through), as surrogate-gradient training
needs. On XLA:CPU both run the compiled kernel ``brainsim_dense_events`` (``_kernels_dense.cc``)
when the backend selects it (``set_backend``), for float32 weights; the pure-JAX forms below are
the reference and the fallback.

.. math:: (X W)_{bj} = \\sum_{i: X_{bi} \\ne 0} W_{ij}, \\qquad
          (X^\\top G)_{ij} = \\sum_{b: X_{bi} \\ne 0} G_{bj}
"""
from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from ._active import bucket_caps, bucket_index, compact, concrete_cap
from ._backend import has_target, kernel_selected
from ._ffi import lane_primitive
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["binary_dense_matmul"]

_TARGET = "brainsim_dense_events"


# --------------------------------------------------------------------------- pure JAX
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
    if m == 0 or B == 0:
        return jnp.zeros((B, W.shape[1]), W.dtype)
    if cap is not None:
        return _run(W, X, min(cap, m))
    caps = [c for c in bucket_caps(m) if 8 * c < m] + [m]
    which = bucket_index(caps, jnp.max(jnp.sum(X != 0, axis=1)))
    return lax.switch(which, [partial(lambda c, _: _run(W, X, c), c) for c in caps], None)


# --------------------------------------------------------------------------- compiled kernel
def _lanes(*arrays):
    """The broadcast lane dimensions (all but the last two) of ``arrays``; 0 beats a shared 1."""
    return tuple(np.broadcast_shapes(*[a.shape[:-2] for a in arrays]))


def _kernel_shape(x, w, *, transpose):
    lanes = _lanes(x, w)
    rows = x.shape[-1] if transpose else x.shape[-2]
    return lanes + (rows, w.shape[-1]), jnp.float32


def _kernel_ffi(x, w, *, transpose):
    shape, dtype = _kernel_shape(x, w, transpose=transpose)
    call = jax.ffi.ffi_call(_TARGET, jax.ShapeDtypeStruct(shape, dtype))
    return call(x, w, transpose=np.int64(transpose))


_kernel_p = lane_primitive("brainsim_event_dense_kernel", _kernel_ffi, _kernel_shape)


def _kernel(W, X, transpose):
    """The compiled product, or None where it does not apply (dtype, stale build)."""
    if W.dtype != jnp.float32 or not has_target(_TARGET):
        return None
    if X.dtype != jnp.bool_ and X.dtype != jnp.float32:
        X = X != 0
    return _kernel_p.bind(X, W, transpose=bool(transpose))


# --------------------------------------------------------------------------- primitives
def _rows_impl(W, X, *, cap, kernel):
    if kernel:
        out = _kernel(W, X, False)
        if out is not None:
            return out
    if W.ndim == 2:
        return _event(W, X, cap)
    return (X != 0).astype(W.dtype) @ W  # lanes (vmap): the dense reference, broadcast


def _rows_t_impl(G, X, *, kernel):
    if kernel:
        out = _kernel(G, X, True)
        if out is not None:
            return out
    return jnp.swapaxes((X != 0).astype(G.dtype), -1, -2) @ G


def _rows_abstract(W, X, **_):
    return jax.core.ShapedArray(_lanes(W, X) + (X.shape[-2], W.shape[-1]), W.dtype)


def _rows_t_abstract(G, X, **_):
    return jax.core.ShapedArray(_lanes(G, X) + (X.shape[-1], G.shape[-1]), G.dtype)


def _fit(ct, aval):
    """Sum ``ct`` over the lanes that ``aval`` shares (size 1), so it has ``aval``'s shape."""
    axes = tuple(d for d in range(aval.ndim - 2) if aval.shape[d] == 1 and ct.shape[d] != 1)
    return jnp.sum(ct, axis=axes, keepdims=True) if axes else ct


def _make(name, impl, abstract):
    prim = Primitive(name)

    @lru_cache(maxsize=None)
    def jitted(**params):
        return jax.jit(partial(impl, **params))

    prim.def_impl(lambda A, X, **params: jitted(**params)(A, X))
    prim.def_abstract_eval(abstract)
    mlir.register_lowering(prim, mlir.lower_fun(impl, multiple_results=False))
    return prim


rows_p = _make("brainsim_event_dense_rows", _rows_impl, _rows_abstract)
rows_t_p = _make("brainsim_event_dense_rows_t", _rows_t_impl, _rows_t_abstract)


def _lane_batch(prim, fold: bool):
    """The batching rule of ``prim``: one more lane, or (``fold``) spikes mapped over shared
    weights folded into the batch axis; ``rows_t_p`` cannot fold, its result is per lane."""
    def rule(args, dims, **params):
        A, X = args
        dA, dX = dims
        if fold and dA is None and A.ndim == 2:
            # only the spikes are mapped, over shared weights: the mapped axis joins the batch
            Xm = jnp.moveaxis(X, dX, 0)
            V, B = Xm.shape[:2]
            out = prim.bind(A, Xm.reshape((V * B,) + Xm.shape[2:]), **params)
            return out.reshape((V, B) + out.shape[1:]), 0
        lanes = [jnp.expand_dims(a, 0) if d is None else jnp.moveaxis(a, d, 0)
                 for a, d in zip(args, dims)]
        return prim.bind(*lanes, **params), 0
    return rule


batching.primitive_batchers[rows_p] = _lane_batch(rows_p, fold=True)
batching.primitive_batchers[rows_t_p] = _lane_batch(rows_t_p, fold=False)


def _check_linear(X):
    if ad.is_undefined_primal(X):
        raise ValueError("brainsim.event: a product with spikes (BinaryArray) is not linear in the "
                         "spikes; transpose with respect to the weights instead")


def _rows_transpose(ct, W, X, *, cap, kernel):
    _check_linear(X)
    if type(ct) is ad.Zero:
        return None, None
    return _fit(rows_t_p.bind(ct, X, kernel=kernel), W.aval), None


def _rows_t_transpose(ct, G, X, *, kernel):
    _check_linear(X)
    if type(ct) is ad.Zero:
        return None, None
    return _fit(rows_p.bind(ct, X, cap=None, kernel=kernel), G.aval), None


ad.primitive_transposes[rows_p] = _rows_transpose
ad.primitive_transposes[rows_t_p] = _rows_t_transpose
# linear in the weights (or the gradient); in the spikes, the float product's derivative
ad.defjvp(rows_p,
          lambda dW, W, X, **p: rows_p.bind(dW, X, **p),
          lambda dX, W, X, **p: dX.astype(W.dtype) @ W)
ad.defjvp(rows_t_p,
          lambda dG, G, X, **p: rows_t_p.bind(dG, X, **p),
          lambda dX, G, X, **p: jnp.swapaxes(dX.astype(G.dtype), -1, -2) @ G)


# --------------------------------------------------------------------------- the event mask
def _mask_impl(X, *, dtype):
    return (X != 0).astype(dtype)


# ``[X != 0]`` as ``dtype``, the spikes of ``W @ spikes``: a primitive of its own (not jnp ops) so
# that it has the float product's derivative (straight-through) and refuses to be transposed in
# the spikes, as the rows products do; traced as jnp ops, a transpose would give zeros silently.
mask_p = Primitive("brainsim_event_mask")
mask_p.def_impl(_mask_impl)
mask_p.def_abstract_eval(lambda X, *, dtype: jax.core.ShapedArray(X.shape, dtype))
mlir.register_lowering(mask_p, mlir.lower_fun(_mask_impl, multiple_results=False))
ad.defjvp(mask_p, lambda dX, X, *, dtype: dX.astype(dtype))
batching.primitive_batchers[mask_p] = lambda args, dims, *, dtype: (
    mask_p.bind(args[0], dtype=dtype), dims[0])


def _mask_transpose(ct, X, *, dtype):
    _check_linear(X)
    return (None,)


ad.primitive_transposes[mask_p] = _mask_transpose


# --------------------------------------------------------------------------- public entry
def binary_dense_matmul(spikes, W, left: bool):
    """``spikes @ W`` (left: only the rows of ``W`` at the events are read) or ``W @ spikes``
    (the dense product of the event mask; see below)."""
    Wm, unit = split_unit(W)
    Wm = jnp.asarray(Wm)
    X = spikes.value
    if Wm.ndim != 2:
        raise ValueError(f"BinaryArray product needs a 2-D weight matrix, got shape {Wm.shape}")
    if not jnp.issubdtype(Wm.dtype, jnp.inexact):
        Wm = Wm.astype(jnp.float32)
    if not left:
        if X.shape[0] != Wm.shape[1]:
            raise ValueError(f"shape mismatch in W @ spikes: W has shape {Wm.shape}, spikes have shape {X.shape}")
        # The events select columns of W, strided in row-major memory: gathering them cost more
        # than streaming W once at 4000 x 4000 and a batch of 16, and transposing W so they
        # become rows copied all of W on every call (17-19x the dense product). So this side
        # is the dense product of the event mask; spikes @ W.T, with W stored transposed, is
        # the event one.
        return wrap_unit(Wm @ mask_p.bind(X, dtype=np.dtype(Wm.dtype)), unit)
    if X.shape[-1] != Wm.shape[0]:
        raise ValueError(f"shape mismatch in spikes @ W: spikes have shape {X.shape}, W has shape {Wm.shape}")
    X2 = X[None] if X.ndim == 1 else X
    cap = None
    if not is_traced(X2):
        cnt = int(np.max(np.count_nonzero(np.asarray(X2), axis=1))) if X2.size else 0
        cap = concrete_cap(cnt, X2.shape[1])
    out = rows_p.bind(Wm, X2, cap=cap, kernel=kernel_selected())
    return wrap_unit(out[0] if X.ndim == 1 else out, unit)
