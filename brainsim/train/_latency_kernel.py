"""The compiled XLA:CPU latency scatter and gather as JAX primitives with batching rules.

``scatter_p``: ``out[t, b, h] = sum_{i: steps[b, i] = t} w[i, h]`` for ``0 <= t < T``;
``gather_p``: ``dw[i, h] = sum_{b: 0 <= steps[b, i] < T} g[steps[b, i], b, h]``, its transpose
in ``w`` (the rules of ``brainsim/event/_kernels_cpu.cc``). float32 and float64 only.

The same mechanism as the event kernel (``brainsim.event._kernel``): a primitive whose batching
rule gives every ``vmap`` level a lane dimension that the handler walks, instead of
``jax.ffi.ffi_call``'s deprecated ``vmap_method``; a vmap stays one kernel call. Derivatives are
defined outside, by the ``custom_vjp`` of ``_latency``.
"""
from __future__ import annotations

from functools import lru_cache, partial

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import batching, mlir

from ..event._backend import has_target

__all__ = ["KERNEL_DTYPES", "scatter_p", "gather_p", "built"]

KERNEL_DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))

scatter_p = Primitive("brainsim_latency_scatter")
gather_p = Primitive("brainsim_latency_gather")


def _lanes(steps, other):
    """The lane dimensions of a call: ``steps`` is ``(lanes..., B, N)``, and every operand has
    one lane dimension per vmap level, of size 1 where it is shared."""
    return tuple(max(steps.shape[d], other.shape[d]) for d in range(steps.ndim - 2))


def _scatter_shape(steps, w, num_steps):
    return _lanes(steps, w) + (num_steps, steps.shape[-2], w.shape[-1])


def _gather_shape(steps, g):
    return _lanes(steps, g) + (steps.shape[-1], g.shape[-1])


def _target(kind, dtype):
    return f"brainsim_latency_{kind}_{jnp.dtype(dtype).name.replace('float', 'f')}"


def built(dtype) -> bool:
    """Whether the extension holds both kernels for ``dtype`` (an older build may lack them)."""
    return jnp.dtype(dtype) in KERNEL_DTYPES and all(
        has_target(_target(kind, dtype)) for kind in ("scatter", "gather"))


def _scatter_ffi(steps, w, *, num_steps):
    out = jax.ShapeDtypeStruct(_scatter_shape(steps, w, num_steps), w.dtype)
    return jax.ffi.ffi_call(_target("scatter", w.dtype), out)(steps, w)


def _gather_ffi(steps, g):
    out = jax.ShapeDtypeStruct(_gather_shape(steps, g), g.dtype)
    return jax.ffi.ffi_call(_target("gather", g.dtype), out)(steps, g)


@lru_cache(maxsize=None)
def _jitted_scatter(num_steps):
    return jax.jit(partial(_scatter_ffi, num_steps=num_steps))


_jitted_gather = jax.jit(_gather_ffi)

scatter_p.def_impl(lambda steps, w, *, num_steps: _jitted_scatter(num_steps)(steps, w))
scatter_p.def_abstract_eval(lambda steps, w, *, num_steps: jax.core.ShapedArray(
    _scatter_shape(steps, w, num_steps), w.dtype))
mlir.register_lowering(scatter_p, mlir.lower_fun(_scatter_ffi, multiple_results=False),
                       platform="cpu")

gather_p.def_impl(lambda steps, g: _jitted_gather(steps, g))
gather_p.def_abstract_eval(lambda steps, g: jax.core.ShapedArray(_gather_shape(steps, g), g.dtype))
mlir.register_lowering(gather_p, mlir.lower_fun(_gather_ffi, multiple_results=False),
                       platform="cpu")


def _lane_args(args, dims):
    # one new leading lane dimension per vmap level, of size 1 for an unbatched operand: the
    # handler walks it with stride 0 (no broadcast copies)
    return [jnp.expand_dims(a, 0) if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]


batching.primitive_batchers[scatter_p] = \
    lambda args, dims, *, num_steps: (scatter_p.bind(*_lane_args(args, dims), num_steps=num_steps), 0)
batching.primitive_batchers[gather_p] = \
    lambda args, dims: (gather_p.bind(*_lane_args(args, dims)), 0)
