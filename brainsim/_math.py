"""``exprel(z) = (exp(z) - 1) / z``, the factor of every exponential-Euler step.

Why not ``jnp.expm1(z) / z``: XLA:CPU emits ``expm1`` as a scalar call, so a fusion that holds
one is not vectorised. At 4,000 neurons that made the factor 2-3x the cost of ``exp`` and the
neuron update most of a COBA step (``benchmarks/coba_step_parts.py``). Here, in float32, small
``|z|`` take a degree-7 Taylor polynomial and the rest ``(exp(z) - 1) / z``, where the
subtraction loses at most a bit or two (``|exp(z) - 1| >= 0.39``). Both are ops XLA vectorises,
and the result is within 3 float32 ulps of the exact value for every ``z`` (``expm1 / z`` is
within 8). Other dtypes keep ``expm1``, which is exact to their precision.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["exprel"]

#: |z| below this takes the polynomial; its remainder z**8 / 9! is < 1.2e-8 there (< 1 ulp)
_SMALL = 0.5
#: 1 / (k + 1)! for k = 7 .. 0: exprel(z) = sum_k z**k / (k + 1)!, in Horner order
_COEFS = tuple(1. / math.factorial(k + 1) for k in range(7, -1, -1))


def exprel(z: Any) -> jax.Array:
    """``(exp(z) - 1) / z`` elementwise, ``1`` at ``z = 0``, with finite gradients everywhere.

    Parameters
    ----------
    z : array_like
        Any shape; float32 takes the vectorised form, other float dtypes ``expm1``.

    Returns
    -------
    Array
        Same shape and dtype as ``z`` (``z`` as an array); ``+inf`` where ``exp(z)``
        overflows and ``-1 / z`` where it underflows, as ``expm1(z) / z``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim._math import exprel
    >>> [round(float(v), 6) for v in exprel(jnp.array([0., 1e-3, -2.]))]
    [1.0, 1.0005, 0.432332]
    """
    z = jnp.asarray(z)
    if not jnp.issubdtype(z.dtype, jnp.floating):
        z = z.astype(jnp.result_type(float))
    if z.dtype != jnp.float32:
        zero = z == 0
        zs = jnp.where(zero, jnp.ones_like(z), z)   # the double where keeps the gradient finite
        return jnp.where(zero, jnp.ones_like(z), jnp.expm1(zs) / zs)
    small = jnp.abs(z) < _SMALL
    # each branch gets an argument where it is finite, so the unused one's gradient is not NaN
    zp = jnp.where(small, z, jnp.zeros_like(z))
    zs = jnp.where(small, jnp.ones_like(z), z)
    p = jnp.full_like(z, _COEFS[0])
    for c in _COEFS[1:]:
        p = p * zp + jnp.float32(c)
    return jnp.where(small, p, (jnp.exp(zs) - 1.) / zs)
