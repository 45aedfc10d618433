"""Differentiable products with a row-structured sparse operator ``A`` of shape ``(p, q)``.

Every sparse format reduces to a *row generator* ``spec.gen(theta, struct, rows)`` that returns,
for the requested rows, the column indices ``(R, L)``, values ``(R, L)`` and a validity mask.
``theta`` holds the float parameters (per-synapse data, a scalar weight, or JITC distribution
parameters) and ``struct`` the integer structure (indices, indptr, seed).  Values must be linear
and homogeneous in ``theta``; that makes the tangent w.r.t. the weights the same product with
``theta`` replaced by its tangent, which JAX can transpose for reverse mode.

Two products exist:

* ``scatter``: ``X @ A`` for ``X`` of shape ``(B, p)``.  Event-driven: only the rows of active
  entries of ``X`` are generated/gathered and scatter-added.  Cost ~ active rows x L.
* ``gather``:  ``(A @ X.T).T`` for ``X`` of shape ``(B, q)``; touches every stored synapse.

.. math::  y_{bj} = \\sum_i X_{bi} A_{ij}, \\qquad z_{bi} = \\sum_j A_{ij} X_{bj}
"""
from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from ._active import bucket_caps, bucket_index, compact
from ._kernel import run_kernel

__all__ = ["product"]

# rows processed per block in the all-rows paths, to bound the (rows, L) temporaries
_BLOCK_ELEMS = 1 << 21


def _scatter_rows(spec, theta, struct, X, rows, valid, xv, dtype):
    """Add rows ``rows`` (shape (B, C)) of A, scaled by ``xv`` (B, C), into a (B, q) output."""
    B, C = rows.shape
    cols, vals, mask = spec.gen(theta, struct, jnp.where(valid, rows, 0).reshape(-1))
    L = cols.shape[-1]
    cols = cols.reshape(B, C, L)
    vals = vals.reshape(B, C, L).astype(dtype)
    ok = mask.reshape(B, C, L) & valid[..., None]
    contrib = jnp.where(ok, vals * xv[..., None].astype(dtype), 0)
    cols = jnp.where(ok, cols, spec.q)
    bidx = jnp.broadcast_to(jnp.arange(B)[:, None, None], cols.shape)
    return jnp.zeros((B, spec.q), dtype).at[bidx, cols].add(contrib, mode="drop")


def _scatter_event(spec, binary, cap, theta, struct, X, dtype):
    B, p = X.shape
    active = X != 0

    def run(c):
        idx, _ = compact(active, c)
        valid = idx < p
        safe = jnp.where(valid, idx, 0)
        if binary:
            xv = valid.astype(dtype)
        else:
            xv = jnp.take_along_axis(X, safe, axis=1)
        blk = max(1, _BLOCK_ELEMS // max(B * spec.L, 1))
        if c <= blk:
            return _scatter_rows(spec, theta, struct, X, safe, valid, xv, dtype)
        # many active rows: accumulate block by block so temporaries stay O(_BLOCK_ELEMS)
        nblk = -(-c // blk)
        pad = ((0, 0), (0, nblk * blk - c))
        safe_b = jnp.pad(safe, pad).reshape(B, nblk, blk).transpose(1, 0, 2)
        valid_b = jnp.pad(valid, pad).reshape(B, nblk, blk).transpose(1, 0, 2)
        xv_b = jnp.pad(xv, pad).reshape(B, nblk, blk).transpose(1, 0, 2)

        def body(out, blkargs):
            r, v, w = blkargs
            return out + _scatter_rows(spec, theta, struct, X, r, v, w, dtype), None

        out, _ = lax.scan(body, jnp.zeros((B, spec.q), dtype), (safe_b, valid_b, xv_b))
        return out

    if p == 0:
        return jnp.zeros((B, spec.q), dtype)
    if cap is not None:
        return run(min(cap, p))
    caps = bucket_caps(p)
    if len(caps) == 1:
        return run(caps[0])
    # pick the smallest capacity that holds the busiest batch row; only that branch runs
    which = bucket_index(caps, jnp.max(jnp.sum(active, axis=1)))
    return lax.switch(which, [partial(lambda c, _: run(c), c) for c in caps], None)


def _row_blocks(spec):
    L = max(spec.L, 1)
    blk = max(1, min(spec.p, _BLOCK_ELEMS // L))
    nblk = -(-spec.p // blk) if spec.p else 0
    return blk, nblk


def _scatter_full(spec, theta, struct, X, dtype):
    """All-rows ``X @ A`` (no event skipping); linear in X, used for tangents and dense X."""
    B, p = X.shape
    blk, nblk = _row_blocks(spec)
    if nblk <= 1:
        rows = jnp.broadcast_to(jnp.arange(p, dtype=jnp.int32), (B, p))
        return _scatter_rows(spec, theta, struct, X, rows, jnp.ones((B, p), bool), X, dtype)
    Xp = jnp.pad(X, ((0, 0), (0, nblk * blk - p)))

    def body(out, k):
        rows = k * blk + jnp.arange(blk, dtype=jnp.int32)
        valid = jnp.broadcast_to(rows < p, (B, blk))
        xv = lax.dynamic_slice_in_dim(Xp, k * blk, blk, axis=1)
        rr = jnp.broadcast_to(rows, (B, blk))
        return out + _scatter_rows(spec, theta, struct, X, rr, valid, xv, dtype), None

    out, _ = lax.scan(body, jnp.zeros((B, spec.q), dtype), jnp.arange(nblk))
    return out


def _gather_rows(spec, theta, struct, X, rows, dtype):
    cols, vals, mask = spec.gen(theta, struct, rows)
    xg = jnp.take(X, jnp.where(mask, cols, 0), axis=1)  # (B, R, L)
    return jnp.sum(jnp.where(mask[None], vals.astype(dtype)[None] * xg.astype(dtype), 0), axis=-1)


def _gather(spec, theta, struct, X, dtype):
    """``(A @ X.T).T`` for X of shape (B, q); every stored synapse is visited."""
    B, q = X.shape
    p = spec.p
    blk, nblk = _row_blocks(spec)
    if p == 0:
        return jnp.zeros((B, 0), dtype)
    if nblk <= 1:
        return _gather_rows(spec, theta, struct, X, jnp.arange(p, dtype=jnp.int32), dtype)

    def body(k):
        rows = jnp.minimum(k * blk + jnp.arange(blk, dtype=jnp.int32), p - 1)
        return _gather_rows(spec, theta, struct, X, rows, dtype)

    out = lax.map(body, jnp.arange(nblk))  # (nblk, B, blk)
    return jnp.moveaxis(out, 0, 1).reshape(B, nblk * blk)[:, :p]


def _impl(spec, direction, binary, cap, theta, struct, X, kernel=False):
    dtype = jnp.result_type(*[t for t in jax.tree.leaves(theta)], jnp.float32 if X.dtype == bool else X.dtype)
    if kernel and X.shape[0] > 0:
        out = run_kernel(spec, direction, binary, theta, struct, X)
        if out is not None:
            return out.astype(dtype)
    if direction == "scatter":
        return _scatter_event(spec, binary, cap, theta, struct, X, dtype)
    Xf = (X != 0).astype(dtype) if binary else X
    return _gather(spec, theta, struct, Xf, dtype)


# The primal product is one primitive. Transformations that drop custom derivative rules
# (jax.linear_transpose traces the primal function) then meet a primitive with a transpose
# rule, instead of the event-driven code, whose active-row search is not linear in X, or the
# compiled kernel, which has no transpose at all.
product_p = Primitive("brainsim_event_product")


def _split(args, trees):
    th_tree, st_tree = trees
    nt, ns = th_tree.num_leaves, st_tree.num_leaves
    return (jax.tree.unflatten(th_tree, args[:nt]), jax.tree.unflatten(st_tree, args[nt:nt + ns]),
            args[nt + ns])


def _flat_impl(*args, spec, direction, binary, cap, kernel, trees):
    theta, struct, X = _split(args, trees)
    return _impl(spec, direction, binary, cap, theta, struct, X, kernel=kernel)


@lru_cache(maxsize=None)
def _jitted_impl(**params):
    return jax.jit(partial(_flat_impl, **params))


def _abstract_eval(*avals, **params):
    structs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
    out = jax.eval_shape(partial(_flat_impl, **params), *structs)
    return jax.core.ShapedArray(out.shape, out.dtype, weak_type=out.weak_type)


def _batch_rule(args, dims, **params):
    if all(d is None for d in dims[:-1]):
        # only the operand is mapped: its mapped axis joins the batch axis, and the result stays
        # this primitive (transposable, e.g. under linear_transpose of a vmap)
        X = jnp.moveaxis(args[-1], dims[-1], 0)
        V, B = X.shape[:2]
        out = product_p.bind(*args[:-1], X.reshape((V * B,) + X.shape[2:]), **params)
        return out.reshape((V, B) + out.shape[1:]), 0
    return jax.vmap(partial(_flat_impl, **params), in_axes=tuple(dims))(*args), 0


def _transpose_rule(ct, *args, spec, direction, binary, cap, kernel, trees):
    undef = [ad.is_undefined_primal(a) for a in args]
    nt, ns = trees[0].num_leaves, trees[1].num_leaves
    if any(undef[nt:nt + ns]):
        raise ValueError("brainsim.event: the sparse structure (indices, seed) is not a linear input")
    if type(ct) is ad.Zero:
        return [None] * len(args)
    if undef[-1]:
        if any(undef[:nt]):
            raise ValueError("brainsim.event: a product is linear in the weights or in the operand, "
                             "not in both at once")
        if binary:
            raise ValueError("brainsim.event: a product with spikes (BinaryArray) is not linear in "
                             "the spikes; transpose with respect to the weights, or pass float values")
        theta, struct, X = _split(args, trees)
        # (X A)^T ct = ct A^T (a gather), and (X A^T)^T ct = ct A (a scatter over all rows)
        ct_x = (_gather if direction == "scatter" else _scatter_full)(spec, theta, struct, ct, ct.dtype)
        return [None] * (len(args) - 1) + [ct_x.astype(X.aval.dtype)]
    # linear (affine, when some weight leaves are known) in the undefined weight leaves
    idx = [i for i in range(nt) if undef[i]]

    def f(*th_u):
        full = list(args[:nt])
        for i, t in zip(idx, th_u):
            full[i] = t
        theta, struct, X = _split(full + list(args[nt:]), trees)
        return _impl(spec, direction, binary, cap, theta, struct, X)

    _, vjp = jax.vjp(f, *[jnp.zeros(args[i].aval.shape, args[i].aval.dtype) for i in idx])
    cts = dict(zip(idx, vjp(ct)))
    return [cts.get(i) for i in range(len(args))]


product_p.def_impl(lambda *args, **params: _jitted_impl(**params)(*args))
product_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(product_p, mlir.lower_fun(_flat_impl, multiple_results=False))
batching.primitive_batchers[product_p] = _batch_rule
ad.primitive_transposes[product_p] = _transpose_rule


@partial(jax.custom_jvp, nondiff_argnums=(0, 1, 2, 3, 4))
def product(spec, direction, binary, cap, kernel, theta, struct, X):
    """Product of the operator described by ``spec`` with a batch ``X`` (see module docstring).

    ``binary`` treats every nonzero of X as 1 in the forward pass while the gradient w.r.t. X is the
    float product's (straight-through), as surrogate-gradient training needs.

    ``kernel`` (static, resolved by the caller so that it is part of the jit cache key) lets this
    primal forward pass use the compiled kernel (see ``_backend``). The tangents in the JVP rule
    below are always pure JAX, so they stay linear and transposable for reverse mode.
    """
    th, th_tree = jax.tree.flatten(theta)
    st, st_tree = jax.tree.flatten(struct)
    return product_p.bind(*th, *st, X, spec=spec, direction=direction, binary=bool(binary), cap=cap,
                          kernel=bool(kernel), trees=(th_tree, st_tree))


def _is_zero(t):
    return all(isinstance(x, SymbolicZero) for x in jax.tree.leaves(t, is_leaf=lambda z: isinstance(z, SymbolicZero)))


@partial(product.defjvp, symbolic_zeros=True)
def _product_jvp(spec, direction, binary, cap, kernel, primals, tangents):
    theta, struct, X = primals
    dtheta, _, dX = tangents
    out = product(spec, direction, binary, cap, kernel, theta, struct, X)
    tan = jnp.zeros_like(out)
    if not _is_zero(dtheta):
        # values are linear in theta: the weight tangent is the same (event-driven) product
        dth = jax.tree.map(lambda t, x: jnp.zeros_like(x) if isinstance(t, SymbolicZero) else t,
                           dtheta, theta, is_leaf=lambda z: isinstance(z, SymbolicZero))
        tan = tan + _impl(spec, direction, binary, cap, dth, struct, X)
    if not isinstance(dX, SymbolicZero):
        dtype = out.dtype
        dXf = dX.astype(dtype)
        if direction == "scatter":
            tan = tan + _scatter_full(spec, theta, struct, dXf, dtype)
        else:
            tan = tan + _gather(spec, theta, struct, dXf, dtype)
    return out, tan
