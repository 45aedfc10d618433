"""The compiled XLA:CPU latency scatter and gather as JAX primitives with batching rules.

``scatter_p``: ``out[t, b, h] = sum_{i: steps[b, i] = t} w[i, h]`` for ``0 <= t < T``;
``gather_p``: ``dw[i, h] = sum_{b: 0 <= steps[b, i] < T} g[steps[b, i], b, h]``, its transpose
in ``w`` (the rules of ``brainsim/event/_kernels_cpu.cc``). float32 and float64 only.

Made by the same mechanism as the event kernel (``brainsim.event._ffi.lane_primitive``): a
primitive whose batching rule gives every ``vmap`` level a lane dimension that the handler
walks; a vmap stays one kernel call. Derivatives are
defined outside, by the ``custom_vjp`` of ``_latency``.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from ..event._backend import has_target
from ..event._ffi import lane_primitive

__all__ = ["KERNEL_DTYPES", "scatter_p", "gather_p", "built"]

KERNEL_DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.float64))


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


scatter_p = lane_primitive(
    "brainsim_latency_scatter", _scatter_ffi,
    lambda steps, w, *, num_steps: (_scatter_shape(steps, w, num_steps), w.dtype))
gather_p = lane_primitive(
    "brainsim_latency_gather", _gather_ffi,
    lambda steps, g: (_gather_shape(steps, g), g.dtype))
