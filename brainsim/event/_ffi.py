"""One way to expose a handler of ``_kernels_cpu.cc`` to JAX: a primitive with a lane batching rule.

``jax.ffi.ffi_call``'s ``vmap_method`` is on its way out in favour of batching rules. The rule
here gives every ``vmap`` level one leading lane dimension on every operand, of size 1 where the
operand is shared by the lanes; the C++ handlers walk the lanes with stride 0 for those, so a
vmap (over events, weights or both) stays one kernel call and copies nothing. The event scatter
(``brainsim.event._kernel``) and the latency-input kernels (``brainsim.train._latency_kernel``)
are both made here.
"""
from __future__ import annotations

from functools import lru_cache, partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

__all__ = ["lane_primitive"]


def lane_primitive(name: str, ffi: Callable[..., Any],
                   out_spec: Callable[..., tuple]) -> Primitive:
    """A CPU primitive ``name`` that calls ``ffi(*operands, **params)`` (a ``jax.ffi.ffi_call``).

    ``out_spec(*operands, **params)`` gives the result's ``(shape, dtype)``, lane dimensions
    first. ``params`` must be hashable (they key the compiled eager call).
    """
    prim = Primitive(name)

    @lru_cache(maxsize=None)
    def jitted(items: tuple) -> Callable:
        return jax.jit(partial(ffi, **dict(items)))

    def batch(args, dims, **params):
        lanes = [jnp.expand_dims(a, 0) if d is None else jnp.moveaxis(a, d, 0)
                 for a, d in zip(args, dims)]
        return prim.bind(*lanes, **params), 0

    prim.def_impl(lambda *args, **params: jitted(tuple(sorted(params.items())))(*args))
    prim.def_abstract_eval(lambda *args, **params: jax.core.ShapedArray(*out_spec(*args, **params)))
    mlir.register_lowering(prim, mlir.lower_fun(ffi, multiple_results=False), platform="cpu")
    batching.primitive_batchers[prim] = batch
    return prim
