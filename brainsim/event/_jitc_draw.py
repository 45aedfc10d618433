"""The procedural draw of just-in-time connectivity, exact in integer and IEEE arithmetic.

Row ``i`` draws its targets by geometric skipping over a counter-based hash (as GeNN's
procedural connectivity does): slot ``t`` of row ``i`` hashes ``(seed, i, t)`` to a uniform
``u = m / 2^24`` with ``m`` in ``[1, 2^24]``, and

.. math:: g_t = \\lfloor -\\log_2(u)\\, K \\rfloor + 1,\\qquad K = \\frac{1}{-\\log_2(1-p)},
          \\qquad c_t = \\sum_{k \\le t} g_k - 1,

so ``P(g > k) = (1-p)^k`` and every column is present independently with probability ``p``.
Slots stop at the first ``c_t >= q`` (or after ``L`` slots, see ``max_per_row``).

Everything here is integer arithmetic plus single, correctly rounded IEEE float32 operations,
so the pure-JAX path below and the compiled kernel (``_kernels_cpu.cc``) draw the *same*
matrix bit for bit: ``-log2(m / 2^24)`` is a fixed-point value (22 fractional bits) from a
1025-entry table of ``log2(1 + k/1024)`` with linear interpolation in integers, converted to
float32 once and multiplied by the float32 constant ``K`` (scaled by ``2^-22``). The table
and ``K`` are computed here and handed to the kernel, never recomputed there. A gap is capped
at ``2^30``, which only matters for ``p`` below about ``1e-8``.

The weights of slot ``t`` come from further hash streams of the same counter: the normal
ones use ``log``/``cos`` (Box-Muller), whose last bits may differ between XLA and the C
library, and XLA may fuse the uniform ones' ``low + (high - low) v`` into one rounding, so
weights agree to float32 rounding (a homogeneous weight exactly); the structure always agrees.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from ._active import _cum

__all__ = ["LOG2_TABLE", "gap_scale", "row_key", "slot_hash", "slot_uniform", "gaps_of", "cols_of"]

_TBITS = 10                      # table index bits
_FRAC = 22                       # fractional bits of the fixed-point log2
_REM = 23 - _TBITS               # mantissa bits interpolated between table entries
LOG2_TABLE = np.round(np.log2(1.0 + np.arange((1 << _TBITS) + 1) / (1 << _TBITS))
                      * (1 << _FRAC)).astype(np.int32)
GAP_CAP = 1 << 30
_GOLDEN = 0x9E3779B9
_SLOT = 0x85EBCA6B


def gap_scale(prob: float) -> np.float32:
    """``K * 2^-22`` as float32: multiplies the fixed-point ``-log2(u)`` into a gap."""
    if prob >= 1.0 or prob <= 0.0:   # every gap is 1, or no slot is drawn at all (L = 0)
        return np.float32(0.0)
    return np.float32(1.0 / (-math.log2(1.0 - prob) * (1 << _FRAC)))


def _mix(x):
    """32-bit integer finaliser (lowbias32): a bijection with good avalanche."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def row_key(seed, stream: int, rows):
    """Per-row key of stream ``stream`` (0: structure, 1-2: weights), shape of ``rows``."""
    s = jnp.uint32((_GOLDEN * (stream + 1)) & 0xFFFFFFFF)
    return _mix(_mix(jnp.asarray(seed).astype(jnp.uint32) ^ s) ^ rows.astype(jnp.uint32))


def slot_hash(key, L: int):
    """Hash of slots ``0..L-1`` of each row key: shape ``key.shape + (L,)``."""
    t = jnp.arange(L, dtype=jnp.uint32) * jnp.uint32(_SLOT)
    return _mix(_mix(key[..., None] + t))


def slot_uniform(key, L: int, dtype=jnp.float32):
    """Uniforms ``m / 2^24`` in ``(0, 1]`` of slots ``0..L-1`` (exact in float32)."""
    m = (slot_hash(key, L) >> 8).astype(jnp.int32) + 1
    return (m.astype(jnp.float32) * np.float32(1.0 / (1 << 24))).astype(dtype)


def _neg_log2_fixed(h):
    """``-log2(m / 2^24) * 2^22`` as int32, for ``m = (h >> 8) + 1`` (h uint32)."""
    m = (h >> 8).astype(jnp.int32) + 1                          # [1, 2^24]
    # float32(m) is exact: its exponent is floor(log2 m), its mantissa bits the fraction
    bits = lax.bitcast_convert_type(m.astype(jnp.float32), jnp.int32)
    e = (bits >> 23) - 127                                       # [0, 24]
    frac = bits & ((1 << 23) - 1)
    idx = frac >> _REM
    rem = frac & ((1 << _REM) - 1)
    tab = jnp.asarray(LOG2_TABLE)
    lo = jnp.take(tab, idx)
    hi = jnp.take(tab, idx + 1)
    l2 = lo + (((hi - lo) * rem) >> _REM)
    return ((24 - e) << _FRAC) - l2


def gaps_of(h, prob: float, q: int):
    """Geometric gaps (int32, >= 1, at most ``min(q + 1, 2^30)``) from slot hashes ``h``."""
    if prob >= 1.0:
        return jnp.ones(h.shape, jnp.int32)
    y = _neg_log2_fixed(h).astype(jnp.float32) * gap_scale(prob)
    g = jnp.minimum(jnp.floor(y), np.float32(GAP_CAP)).astype(jnp.int32) + 1
    return jnp.minimum(g, min(q + 1, GAP_CAP))


def _sat_add(q1):
    def add(a, b):
        return jnp.minimum(a + b, jnp.uint32(q1))
    return add


def cols_of(gaps, q: int):
    """Columns ``c_t = sum_{k<=t} g_k - 1`` of each row of gaps and their validity ``c_t < q``."""
    L = gaps.shape[-1]
    bound = L * (min(q + 1, GAP_CAP) + 1)
    if bound < (1 << 24):      # float prefix sums by small matmuls are exact below 2^24
        s = _cum(gaps.astype(jnp.float32)).astype(jnp.int32)
    elif bound < (1 << 31):
        s = jnp.cumsum(gaps, axis=-1)
    else:                      # saturating sums cannot wrap around into [0, q)
        s = lax.associative_scan(_sat_add(q + 1), gaps.astype(jnp.uint32), axis=gaps.ndim - 1)
        s = s.astype(jnp.int32)
    mask = s <= q
    return jnp.where(mask, s - 1, 0), mask
