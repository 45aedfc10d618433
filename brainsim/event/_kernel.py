"""The compiled XLA:CPU scatter kernel as a JAX primitive with a batching rule.

``out[b, j] = sum_{i: x[b, i] != 0} v(b, i) * data[s]`` over the CSR entries ``s`` of row ``i``
with ``indices[s] = j``; ``v = 1`` for binary events, else ``x[b, i]``; ``data`` of length 1 is
one shared weight (the rule of ``_kernels_cpu.cc``).

Why a primitive: ``jax.ffi.ffi_call``'s ``vmap_method`` is on its way out in favour of batching
rules; this one gives every ``vmap`` level a lane dimension that the handler walks, so a vmap
over events or weights stays one kernel call. Derivatives and transposes are never taken through
it: they are pure JAX (``_engine``).
"""
from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

__all__ = ["scatter_kernel"]

_TARGET = "brainsim_csr_scatter"

scatter_p = Primitive("brainsim_event_scatter")


def _out_shape(x, data, indices, indptr, q):
    """Result shape: the lane dimensions (see the batching rule) then ``(B, q)``."""
    lanes = tuple(max(a.shape[d] for a in (x, data, indices, indptr)) for d in range(x.ndim - 2))
    return lanes + (x.shape[-2], q)


def _ffi(x, data, indices, indptr, *, q, binary):
    shape = _out_shape(x, data, indices, indptr, q)
    call = jax.ffi.ffi_call(_TARGET, jax.ShapeDtypeStruct(shape, jnp.float32))
    return call(x, data, indices, indptr, binary=np.int64(binary))


@lru_cache(maxsize=None)
def _jitted(q, binary):
    return jax.jit(partial(_ffi, q=q, binary=binary))


def _abstract_eval(x, data, indices, indptr, *, q, binary):
    return jax.core.ShapedArray(_out_shape(x, data, indices, indptr, q), jnp.float32)


scatter_p.def_impl(lambda *args, q, binary: _jitted(q, binary)(*args))
scatter_p.def_abstract_eval(_abstract_eval)
mlir.register_lowering(scatter_p, mlir.lower_fun(_ffi, multiple_results=False), platform="cpu")


def _batch_rule(args, dims, *, q, binary):
    # every vmap level prepends one lane dimension to every operand, of size 1 where the operand
    # is shared; the handler walks the lanes with zero strides for those (one call, no copies)
    lanes = [jnp.expand_dims(a, 0) if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
    return scatter_p.bind(*lanes, q=q, binary=binary), 0


batching.primitive_batchers[scatter_p] = _batch_rule


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
