"""Spike containers: dense binary, bit-packed and compact (index list) forms."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._active import compact
from ._units import is_traced

__all__ = ["BinaryArray", "BitPackedBinary", "CompactBinary", "pack", "unpack"]


@jax.tree_util.register_pytree_node_class
class BinaryArray:
    """A spike vector ``(m,)`` or batch ``(B, m)``; every nonzero entry is one event.

    Products with it skip silent inputs, except ``W @ spikes`` with a dense ``W``: there the
    events pick strided columns, which cost more to gather than the dense product of the event
    mask that runs instead (store ``W`` transposed and write ``spikes @ W.T`` for the event
    product). In the forward pass an event counts as 1; the gradient
    w.r.t. ``value`` is that of the float product (straight-through), as surrogate-gradient
    training expects.

    .. math:: (s W)_j = \\sum_{i: s_i \\ne 0} W_{ij}

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> s = ev.BinaryArray(np.array([0., 1., 0.]))
    >>> (s @ np.arange(6.).reshape(3, 2)).tolist()
    [2.0, 3.0]
    """

    __module__ = "brainsim.event"
    __array_ufunc__ = None  # make ``ndarray @ spikes`` defer to __rmatmul__

    def __init__(self, value):
        if isinstance(value, BinaryArray):
            value = value.value
        self.value = value if is_traced(value) else jnp.asarray(value)
        if self.value.ndim not in (1, 2):
            raise ValueError(f"BinaryArray expects a 1-D or 2-D array, got shape {self.value.shape}")

    def tree_flatten(self):
        return (self.value,), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        (obj.value,) = children
        return obj

    @property
    def shape(self):
        return self.value.shape

    def __matmul__(self, other):
        if hasattr(other, "_product"):
            return NotImplemented
        from ._dense import binary_dense_matmul
        return binary_dense_matmul(self, other, left=True)

    def __rmatmul__(self, other):
        from ._dense import binary_dense_matmul
        return binary_dense_matmul(self, other, left=False)

    def __repr__(self):
        return f"BinaryArray(shape={self.shape})"


def pack(x) -> jax.Array:
    """Pack the events of ``x`` (last axis of length m) into uint32 words ``(..., ceil(m/32))``.

    Bit ``b`` of word ``w`` holds entry ``32 * w + b``.

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> ev.pack(np.array([1, 0, 1, 1])).tolist()
    [13]
    """
    x = jnp.asarray(x) != 0
    m = x.shape[-1]
    nw = -(-m // 32)
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, nw * 32 - m)]).reshape(x.shape[:-1] + (nw, 32))
    weights = jnp.left_shift(jnp.uint32(1), jnp.arange(32, dtype=jnp.uint32))
    return jnp.sum(jnp.where(x, weights, jnp.uint32(0)), axis=-1, dtype=jnp.uint32)


def unpack(words, m: int) -> jax.Array:
    """Inverse of :func:`pack`: a bool array ``(..., m)``."""
    words = jnp.asarray(words, jnp.uint32)
    bits = (words[..., None] >> jnp.arange(32, dtype=jnp.uint32)) & jnp.uint32(1)
    return bits.reshape(words.shape[:-1] + (-1,))[..., :m].astype(bool)


@jax.tree_util.register_pytree_node_class
class BitPackedBinary:
    """Events packed 32 per uint32 word (8x smaller than float32 spikes).

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> b = ev.BitPackedBinary.from_array(np.array([1, 0, 0, 1]))
    >>> b.unpack().tolist()
    [True, False, False, True]
    """

    __module__ = "brainsim.event"
    __array_ufunc__ = None

    def __init__(self, words, *, size: int):
        self.words = words if is_traced(words) else jnp.asarray(words, jnp.uint32)
        self.size = int(size)
        if self.words.shape[-1] != -(-self.size // 32):
            raise ValueError(f"BitPackedBinary: {self.size} entries need {-(-self.size // 32)} words, "
                             f"got words of shape {self.words.shape}")

    @classmethod
    def from_array(cls, x):
        x = jnp.asarray(x)
        return cls(pack(x), size=x.shape[-1])

    def unpack(self):
        return unpack(self.words, self.size)

    @property
    def shape(self):
        return self.words.shape[:-1] + (self.size,)

    def tree_flatten(self):
        return (self.words,), self.size

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        (obj.words,) = children
        obj.size = aux
        return obj

    def __matmul__(self, other):
        return BinaryArray(self.unpack()) @ other

    def __rmatmul__(self, other):
        return other @ BinaryArray(self.unpack())


@jax.tree_util.register_pytree_node_class
class CompactBinary:
    """The indices of the active entries of a spike vector, with a fixed ``capacity``.

    ``count`` is the true number of events; if it exceeds ``capacity`` the container has
    overflowed. With concrete values, building it or taking a product with it raises
    ``ValueError`` then; under ``jit`` the ``overflowed`` flag is set and every product with it
    (``c @ M`` and ``M @ c``, sparse or dense ``M``) is NaN rather than a silently truncated result.

    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> c = ev.CompactBinary.from_array(np.array([0, 1, 0, 1]), capacity=3)
    >>> c.indices.tolist(), int(c.count)
    ([1, 3, 4], 2)
    """

    __module__ = "brainsim.event"
    __array_ufunc__ = None

    def __init__(self, indices, count, *, size: int):
        self.indices = indices if is_traced(indices) else jnp.asarray(indices, jnp.int32)
        self.count = count if is_traced(count) else jnp.asarray(count, jnp.int32)
        self.size = int(size)
        if self.indices.ndim != 1:
            raise ValueError(f"CompactBinary: indices must be 1-D, got shape {self.indices.shape}")
        self.overflow_flag()

    @classmethod
    def from_array(cls, x, capacity: int):
        """Compact a 1-D spike vector; padded slots hold ``size`` (an invalid index)."""
        x = jnp.asarray(x)
        if x.ndim != 1:
            raise ValueError(f"CompactBinary.from_array expects a 1-D array, got shape {x.shape}")
        idx, count = compact((x != 0)[None], int(capacity))
        return cls(idx[0], count[0], size=x.shape[0])

    @property
    def capacity(self) -> int:
        return int(self.indices.shape[0])

    @property
    def overflowed(self):
        return self.count > self.capacity

    def overflow_flag(self):
        """``overflowed``, after raising ``ValueError`` if it is known (not traced) to be True.

        Every product with this container goes through here, so none can silently drop events.
        """
        flag = self.overflowed
        if not is_traced(flag) and bool(flag):
            raise ValueError(f"CompactBinary overflow: {int(self.count)} events exceed "
                             f"capacity={self.capacity}; raise capacity")
        return flag

    @property
    def shape(self):
        return (self.size,)

    def to_dense(self):
        """Bool vector of length ``size`` with the stored events set."""
        return jnp.zeros(self.size, bool).at[self.indices].set(True, mode="drop")

    def tree_flatten(self):
        return (self.indices, self.count), self.size

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.indices, obj.count = children
        obj.size = aux
        return obj

    def __matmul__(self, other):
        return nan_if(self.overflow_flag(), BinaryArray(self.to_dense()) @ other)

    def __rmatmul__(self, other):
        return nan_if(self.overflow_flag(), other @ BinaryArray(self.to_dense()))


def nan_if(flag, y):
    """``y`` (array or Quantity) with every entry NaN where the scalar ``flag`` is True."""
    import brainunit as u
    m = y.mantissa if isinstance(y, u.Quantity) else y
    m = jnp.where(flag, jnp.nan, m)
    return u.Quantity(m, unit=y.unit) if isinstance(y, u.Quantity) else m
