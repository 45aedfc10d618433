"""Sparse random layers: fixed connection probability or fixed number of connections."""
from __future__ import annotations

import jax.numpy as jnp

from .._checks import check_finite, check_size
from .._module import Module
from .._state import ParamState
from ..event import BinaryArray, random_conn
from ._common import check_input

__all__ = ["EventFixedProb", "FixedNumConn", "EventFixedNumConn"]


def _sizes(cls, in_size, out_size):
    return check_size(cls, "in_size", in_size), check_size(cls, "out_size", out_size)


class _SparseLayer(Module):
    _event = True

    def __init__(self, conn, weight, name):
        super().__init__(name=name)
        self.in_size, self.out_size = conn.shape
        self.conn = conn  # structure only; the weights live in the ParamState
        w = weight(conn.indices.shape) if callable(weight) else weight
        check_finite(type(self).__name__, weight=w)
        if not hasattr(w, "unit"):
            w = jnp.asarray(w)
            w = w if jnp.issubdtype(w.dtype, jnp.inexact) else w.astype(jnp.float32)
        self.weight = ParamState(w)
        wshape = jnp.shape(getattr(self.weight.value, "mantissa", self.weight.value))
        expected = conn.indices.shape
        if wshape not in ((), expected):
            raise ValueError(f"{type(self).__name__}: weight must be a scalar (homogeneous) or have "
                             f"shape {expected} (one per synapse), got {wshape}")

    def matrix(self):
        """The connectivity with the current weights (a brainsim.event matrix)."""
        return self.conn.with_data(self.weight.value)

    def update(self, x):
        check_input(x, self.in_size, type(self).__name__)
        M = self.matrix()
        return (BinaryArray(x) @ M) if self._event else (x @ M)

    def __call__(self, x):
        return self.update(x)


class EventFixedProb(_SparseLayer):
    """Sparse random projection: each (pre, post) pair connected with probability ``prob``.

    Parameters
    ----------
    in_size, out_size : int
    prob : float
        Connection probability in [0, 1].
    weight : scalar, Quantity, array (nse,) or callable(shape)
        Homogeneous (scalar) or one weight per synapse; trainable ``ParamState``.
    seed : int
        Connectivity seed.
    allow_self : bool
        Allow ``i -> i`` when in_size == out_size.

    Notes
    -----
    Event-driven: cost ~ active inputs x prob x out_size.

    .. math:: y_j = \\sum_{i:\\,x_i \\ne 0} W_{ij}, \\quad W_{ij} \\ne 0 \\text{ w.p. } p

    Examples
    --------
    >>> import numpy as np
    >>> from brainsim import layers
    >>> layer = layers.EventFixedProb(100, 50, prob=0.1, weight=0.5, seed=1)
    >>> layer(np.ones(100)).shape
    (50,)
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_size: int, out_size: int, prob: float, weight=1.0, seed: int = 0,
                 allow_self: bool = True, name: str | None = None):
        in_size, out_size = _sizes(type(self).__name__, in_size, out_size)
        conn = random_conn(in_size, out_size, prob=prob, seed=seed, allow_self=allow_self)
        super().__init__(conn, weight, name)


class FixedNumConn(_SparseLayer):
    """Each presynaptic neuron has exactly ``num`` targets; float (non-event) product.

    Examples
    --------
    >>> import numpy as np
    >>> from brainsim import layers
    >>> layer = layers.FixedNumConn(20, 10, num=3, weight=0.1, seed=1)
    >>> layer(np.ones(20, np.float32)).shape
    (10,)
    """

    __module__ = "brainsim.layers"
    _event = False

    def __init__(self, in_size: int, out_size: int, num: int, weight=1.0, seed: int = 0,
                 allow_self: bool = True, name: str | None = None):
        in_size, out_size = _sizes(type(self).__name__, in_size, out_size)
        conn = random_conn(in_size, out_size, num=num, seed=seed, allow_self=allow_self, format="fixed_pre")
        super().__init__(conn, weight, name)


class EventFixedNumConn(FixedNumConn):
    """:class:`FixedNumConn` with an event-driven product (binary inputs).

    Examples
    --------
    >>> import numpy as np
    >>> from brainsim import layers
    >>> layer = layers.EventFixedNumConn(20, 10, num=3, weight=0.1, seed=1)
    >>> layer(np.ones(20)).shape
    (10,)
    """

    __module__ = "brainsim.layers"
    _event = True
