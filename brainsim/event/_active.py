"""Find the active (nonzero) entries of a batch of vectors with a static capacity.

``jnp.nonzero(size=...)`` and ``jnp.cumsum`` lower to slow loops on XLA:CPU (about 40-70 us for
4000 elements on the development machine); a prefix sum built from small triangular matmuls costs a
fraction of that, so compaction uses it.  Counts stay exact in float32 because they are below 2**24.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

__all__ = ["prefix_count", "compact", "bucket_caps", "concrete_cap", "bucket_index"]

_B = 64


def prefix_count(mask: jax.Array) -> jax.Array:
    """Inclusive prefix count of a boolean array along its last axis, as int32."""
    x = mask.astype(jnp.float32)
    return _cum(x).astype(jnp.int32)


def _cum(x):
    n = x.shape[-1]
    if n == 0:
        return x
    if n <= _B:
        return x @ jnp.triu(jnp.ones((n, n), x.dtype))
    nb = -(-n // _B)
    pad = [(0, 0)] * (x.ndim - 1) + [(0, nb * _B - n)]
    b = jnp.pad(x, pad).reshape(x.shape[:-1] + (nb, _B))
    w = b @ jnp.triu(jnp.ones((_B, _B), x.dtype))
    tot = w[..., -1]
    off = _cum(tot) - tot
    return (w + off[..., None]).reshape(x.shape[:-1] + (nb * _B,))[..., :n]


def compact(mask: jax.Array, cap: int):
    """Indices of the True entries of each row of ``mask`` (shape ``(B, m)``).

    Returns ``(idx, count)``: ``idx`` has shape ``(B, cap)``, padded with ``m`` (an invalid row);
    ``count`` has shape ``(B,)`` and is the true number of active entries, which may exceed ``cap``.
    """
    B, m = mask.shape
    pos = prefix_count(mask) - 1
    count = pos[:, -1] + 1 if m else jnp.zeros((B,), jnp.int32)
    tgt = jnp.where(mask, pos, cap)
    bidx = jnp.broadcast_to(jnp.arange(B)[:, None], (B, m))
    src = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (B, m))
    idx = jnp.full((B, cap), m, jnp.int32).at[bidx, tgt].set(src, mode="drop")
    return idx, count


def bucket_caps(m: int) -> list[int]:
    """Static capacities tried, smallest first: powers of 4 from 16 up to ``m``."""
    caps, c = [], 16
    while c < m:
        caps.append(c)
        c *= 4
    caps.append(max(m, 1))
    return caps


def concrete_cap(count: int, m: int) -> int:
    """Capacity for a known count: the next power of two (so compilations are shared), at most m."""
    if count <= 16:
        return min(16, max(m, 1))
    return min(1 << math.ceil(math.log2(count)), max(m, 1))


def bucket_index(caps: list[int], count: jax.Array) -> jax.Array:
    """Index of the smallest capacity in ``caps`` that holds ``count`` (a scalar), for ``lax.switch``.

    Under ``vmap`` the index is that of the largest count over the mapped axis and stays
    unbatched. A batched index would make ``lax.switch`` run every branch and select the result
    with ``stop_gradient`` on its operands, which has no transpose: reverse mode through the
    weights of a vmapped product would fail.
    """
    return jnp.searchsorted(jnp.asarray(caps), _unbatched_max(count))


@jax.custom_batching.custom_vmap
def _unbatched_max(count):
    return count


@_unbatched_max.def_vmap
def _unbatched_max_rule(axis_size, in_batched, count):
    (batched,) = in_batched
    return (jnp.max(count, axis=0) if batched else count), False
