"""Dense layers: a plain linear map and its event-driven twin."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp
import numpy as np

from .. import random as bsr
from .._checks import check_finite, check_size
from .._module import Module
from .._state import ParamState
from ..event import BinaryArray
from ._common import check_input

__all__ = ["Linear", "EventLinear"]


def _init_weight(cls, in_size, out_size, weight):
    if weight is None:
        return bsr.normal(0.0, 1.0 / np.sqrt(max(in_size, 1)), size=(in_size, out_size))
    w = weight((in_size, out_size)) if callable(weight) else weight
    if jnp.shape(getattr(w, "mantissa", w)) != (in_size, out_size):
        raise ValueError(f"{cls}: weight has shape {jnp.shape(getattr(w, 'mantissa', w))}, expected "
                         f"({in_size}, {out_size}) = (in_size, out_size)")
    check_finite(cls, weight=w)
    return w


class Linear(Module):
    """Dense linear map ``y = x W (+ b)``.

    Parameters
    ----------
    in_size, out_size : int
    weight : array, Quantity or callable(shape) -> array, optional
        Initial weight ``(in_size, out_size)``; default N(0, 1/in_size).
    bias : bool
        Add a trainable bias ``(out_size,)`` (zeros).

    Notes
    -----
    .. math:: y_j = \\sum_i x_i W_{ij} + b_j

    A ``bool`` input (e.g. ``encoding.poisson(..., dtype=bool)``) is read as events: the product
    sums the rows of ``W`` at its True entries, as :class:`EventLinear` does, which on XLA:CPU
    runs a compiled kernel at about half the cost of the GEMM at 30 % density. The values are
    those of the float product, up to float32 summation order; a bool input has no gradient.
    For float spikes that need the straight-through input gradient, use :class:`EventLinear`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> layer = layers.Linear(3, 2, weight=jnp.ones((3, 2)))
    >>> layer(jnp.array([1., 0., 1.])).tolist()
    [2.0, 2.0]
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_size: int, out_size: int, weight=None, bias: bool = False, name: str | None = None):
        super().__init__(name=name)
        cls = type(self).__name__
        self.in_size, self.out_size = check_size(cls, "in_size", in_size), check_size(cls, "out_size", out_size)
        self.weight = ParamState(_init_weight(cls, self.in_size, self.out_size, weight))
        self.bias = ParamState(jnp.zeros(self.out_size)) if bias else None

    def effective_weight(self) -> Any:
        """The weight the map multiplies with, ``(in_size, out_size)``: here the parameter itself;
        subclasses that constrain it (:class:`DaleLinear`) return the constrained one."""
        return self.weight.value

    def update(self, x):
        check_input(x, self.in_size, type(self).__name__)
        y = self._product(x, self.effective_weight())
        if self.bias is not None:
            y = y + self.bias.value
        return y

    def _product(self, x, w):
        if isinstance(x, u.Quantity):
            return x @ w
        x = jnp.asarray(x)   # a NumPy array would not defer to a Quantity weight's __rmatmul__
        if x.dtype == jnp.bool_:
            # bool input is events (it has no gradient): the sums of the weight rows at its True
            # entries equal the float product, at about half a GEMM's cost on CPU
            return _event_product(x, w)
        return x @ w

    def __call__(self, x):
        return self.update(x)


def _event_product(x, w):
    """``x @ w`` with ``x (..., in)`` read as events: one product over all leading axes."""
    if x.ndim <= 2:
        return BinaryArray(x) @ w
    y = BinaryArray(x.reshape(-1, x.shape[-1])) @ w
    return y.reshape(x.shape[:-1] + y.shape[-1:])


class EventLinear(Linear):
    """Dense weights, event-driven product: only rows of active inputs are read.

    Nonzero inputs count as 1 in the forward pass; the gradient w.r.t. the input is the float
    product's (surrogate-gradient friendly). Equals :class:`Linear` on 0/1 inputs. Inputs of
    shape ``(..., in_size)`` (e.g. ``[T, B, in_size]``, all steps at once) are one product.
    On XLA:CPU the forward pass and the weight gradient run a compiled kernel that sums the
    active rows (``brainsim.event.set_backend``); at the ~30 % density of rate-coded images it
    takes about half the time of the GEMM of :class:`Linear` on float input
    (``benchmarks/RESULTS.md``).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> layer = layers.EventLinear(3, 2, weight=jnp.ones((3, 2)))
    >>> layer(jnp.array([True, False, True])).tolist()
    [2.0, 2.0]
    """

    __module__ = "brainsim.layers"

    def _product(self, x, w):
        if isinstance(x, u.Quantity):
            if not u.get_dim(x).is_dimensionless:
                raise TypeError(f"EventLinear: the input is spikes (any nonzero is one event), so "
                                f"it cannot carry a unit; got a Quantity in {u.get_unit(x)}. How "
                                f"to fix: pass the spikes as a plain (bool or float) array.")
            x = u.maybe_decimal(x)
        return _event_product(jnp.asarray(x), w)
