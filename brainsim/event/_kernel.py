"""The compiled XLA:CPU scatter kernel as a JAX primitive with a batching rule.

``out[b, j] = sum_{i: x[b, i] != 0} v(b, i) * data[s]`` over the CSR entries ``s`` of row ``i``
with ``indices[s] = j``; ``v = 1`` for binary events, else ``x[b, i]``; ``data`` of length 1 is
one shared weight (the rule of ``_kernels_cpu.cc``).

It is a primitive with a lane batching rule (``_ffi.lane_primitive``), so a vmap over events
or weights stays one kernel call. Derivatives and transposes are never taken through it: they
are pure JAX (``_engine``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._ffi import lane_primitive

__all__ = ["scatter_kernel"]

_TARGET = "brainsim_csr_scatter"


def _out_shape(x, data, indices, indptr, q):
    """Result shape: the lane dimensions (see the batching rule) then ``(B, q)``."""
    lanes = tuple(max(a.shape[d] for a in (x, data, indices, indptr)) for d in range(x.ndim - 2))
    return lanes + (x.shape[-2], q)


def _ffi(x, data, indices, indptr, *, q, binary):
    shape = _out_shape(x, data, indices, indptr, q)
    call = jax.ffi.ffi_call(_TARGET, jax.ShapeDtypeStruct(shape, jnp.float32))
    return call(x, data, indices, indptr, binary=np.int64(binary))


scatter_p = lane_primitive(
    "brainsim_event_scatter", _ffi,
    lambda x, data, indices, indptr, *, q, binary: (_out_shape(x, data, indices, indptr, q),
                                                    jnp.float32))


def scatter_kernel(spec, binary, theta, struct, X):
    """``X @ A`` by the compiled kernel, or None when the kernel does not apply.

    ``spec.kernel_csr(theta, struct)`` gives ``(data, indices, indptr)`` of A as CSR arrays
    (data of length 1 for one shared weight), or None for formats without a kernel.
    """
    arrs = spec.kernel_csr(theta, struct)
    if arrs is None:
        return None
    data, indices, indptr = arrs
    if data.dtype != jnp.float32 or X.ndim != 2:
        return None
    if X.dtype == jnp.bool_ or X.dtype == jnp.float32:
        xk = X
    elif binary:
        xk = X != 0
    else:
        return None
    return scatter_p.bind(xk, data.reshape(-1), indices, indptr, q=int(spec.q), binary=bool(binary))
