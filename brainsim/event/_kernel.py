"""The compiled XLA:CPU product kernels as JAX primitives with a batching rule.

Both directions of ``_engine`` (``X`` of shape ``(B, p)`` or ``(B, q)``, ``A`` of shape ``(p, q)``):

* scatter: ``out[b, j] = sum_{i: x[b, i] != 0} v(b, i) A[i, j]`` (event-driven in x);
* gather:  ``out[b, i] = sum_j A[i, j] v(b, j)`` (visits every stored synapse);

``v = 1`` for binary events, else ``x``. Row-stored formats hand the kernel CSR arrays
(``spec.kernel_csr``: data of length 1 for one shared weight; an ELL table is CSR with a
constant ``indptr``); just-in-time matrices hand it their distribution parameters and seed
(``spec.kernel_jitc``), and the kernel regenerates each row exactly as ``_jitc_draw`` does.

Every kernel is a primitive with a lane batching rule (``_ffi.lane_primitive``), so a vmap over
events or weights stays one kernel call. Derivatives and transposes are never taken through
them: they are pure JAX (``_engine``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._backend import has_target
from ._ffi import lane_primitive
from ._jitc_draw import LOG2_TABLE

__all__ = ["run_kernel"]


def _lanes(x, *ops):
    """The lane dimensions (see the batching rule): those before x's last two."""
    return tuple(max(a.shape[d] for a in (x,) + ops) for d in range(x.ndim - 2))


def _csr_shape(x, data, indices, indptr, *, nout, binary):
    return _lanes(x, data, indices, indptr) + (x.shape[-2], nout), jnp.float32


def _csr_ffi(target):
    def ffi(x, data, indices, indptr, *, nout, binary):
        shape, dtype = _csr_shape(x, data, indices, indptr, nout=nout, binary=binary)
        call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(shape, dtype))
        return call(x, data, indices, indptr, binary=np.int64(binary))
    return ffi


_CSR_TARGETS = {"scatter": "brainsim_csr_scatter", "gather": "brainsim_csr_gather"}
_csr_p = {d: lane_primitive(f"brainsim_event_csr_{d}", _csr_ffi(t), _csr_shape)
          for d, t in _CSR_TARGETS.items()}

_JITC_TARGET = "brainsim_jitc"


def _jitc_shape(x, theta, seed, table, *, kind, q, L, scale, binary, gather, nout):
    return _lanes(x, theta, seed, table) + (x.shape[-2], nout), jnp.float32


def _jitc_ffi(x, theta, seed, table, **attrs):
    shape, dtype = _jitc_shape(x, theta, seed, table, **attrs)
    call = jax.ffi.ffi_call(_JITC_TARGET, jax.ShapeDtypeStruct(shape, dtype))
    return call(x, theta, seed, table, kind=np.int64(attrs["kind"]), q=np.int64(attrs["q"]),
                L=np.int64(attrs["L"]), scale=np.float32(attrs["scale"]),
                binary=np.int64(attrs["binary"]), gather=np.int64(attrs["gather"]))


_jitc_p = lane_primitive("brainsim_event_jitc", _jitc_ffi, _jitc_shape)


def _events(X, binary):
    """The operand as the kernels take it (bool or float32), or None."""
    if X.ndim != 2:
        return None
    if X.dtype == jnp.bool_ or X.dtype == jnp.float32:
        return X
    return (X != 0) if binary else None


def run_kernel(spec, direction, binary, theta, struct, X):
    """``X @ A`` (scatter) or ``(A @ X.T).T`` (gather) by a compiled kernel, or None.

    None when no kernel applies: a format without one, weights other than float32, events
    other than bool/float32, or an extension built before that kernel existed.
    """
    xk = _events(X, binary)
    if xk is None:
        return None
    nout = spec.q if direction == "scatter" else spec.p
    if getattr(spec, "kernel_csr", None) is not None:
        if not has_target(_CSR_TARGETS[direction]):
            return None
        arrs = spec.kernel_csr(theta, struct)
        if arrs is None or arrs[0].dtype != jnp.float32:
            return None
        data, indices, indptr = arrs
        return _csr_p[direction].bind(xk, data.reshape(-1), indices, indptr, nout=int(nout),
                                      binary=bool(binary))
    if getattr(spec, "kernel_jitc", None) is not None and has_target(_JITC_TARGET):
        arrs = spec.kernel_jitc(theta, struct)
        if arrs is None:
            return None
        kind, params, seed, scale = arrs
        return _jitc_p.bind(xk, params, seed, jnp.asarray(LOG2_TABLE), kind=int(kind), q=int(spec.q),
                            L=int(spec.L), scale=float(scale), binary=bool(binary),
                            gather=direction == "gather", nout=int(nout))
    return None
