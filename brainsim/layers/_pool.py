"""2-D average and max pooling of channels-last (NHWC) inputs, with ``jax.lax.reduce_window``."""
from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._module import Module
from ..event._units import split_unit, wrap_unit
from ._conv import conv_padding, pair

__all__ = ["AvgPool2d", "MaxPool2d"]


class _Pool2d(Module):
    def __init__(self, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
                 padding: Any = "VALID", name: str | None = None):
        super().__init__(name=name)
        cls = type(self).__name__
        self.kernel_size = pair(cls, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else pair(cls, "stride", stride)
        self.padding = conv_padding(cls, padding)

    def _window(self, ndim: int):
        dims = (1,) * (ndim - 3) + self.kernel_size + (1,)
        strides = (1,) * (ndim - 3) + self.stride + (1,)
        if isinstance(self.padding, str):
            pads = self.padding
        else:
            pads = ((0, 0),) * (ndim - 3) + tuple(self.padding) + ((0, 0),)
        return dims, strides, pads

    def _reduce(self, x: Any, init: Any, op: Any) -> Any:
        # a concrete (numpy) init value lets JAX use its differentiable sum/max window reducers
        return jax.lax.reduce_window(x, init, op, *self._window(x.ndim))

    def update(self, x: Any) -> Any:
        xm, unit = split_unit(x)
        xm = jnp.asarray(xm)
        if xm.ndim < 3:
            raise ValueError(f"{type(self).__name__}: input has shape {tuple(xm.shape)} but "
                             f"pooling expects channels-last images (..., H, W, C) (NHWC). How "
                             f"to fix: add the channel axis of a grey image with x[..., None].")
        h, w = xm.shape[-3:-1]
        kh, kw = self.kernel_size
        if self.padding == "VALID" and (h < kh or w < kw):
            raise ValueError(f"{type(self).__name__}: the input's (H, W) = ({h}, {w}) is smaller "
                             f"than the window kernel_size = {self.kernel_size}; the output "
                             f"would be empty. How to fix: pool less or pad the input.")
        if not jnp.issubdtype(xm.dtype, jnp.inexact):
            xm = xm.astype(jnp.float32)
        return wrap_unit(self._pool(xm), unit)

    def __call__(self, x: Any) -> Any:
        return self.update(x)

    def _repr_fields(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}


class AvgPool2d(_Pool2d):
    r"""Average over ``kh x kw`` windows of channels-last images.

    Parameters
    ----------
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default: the kernel size (non-overlapping windows).
    padding : 'VALID', 'SAME', int or pairs, default 'VALID'
        Padded pixels are not counted: a window averages the input pixels it covers.

    Notes
    -----
    Input ``(..., H, W, C)``, output ``(..., H', W', C)``; leading axes are kept.

    .. math:: y_{n,i,j,c} = \frac{1}{|w_{ij}|} \sum_{(a,b) \in w_{ij}} x_{n,a,b,c}

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> x = jnp.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.AvgPool2d(2)(x)[0, :, :, 0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """

    __module__ = "brainsim.layers"

    def _pool(self, x: Any) -> Any:
        total = self._reduce(x, np.zeros((), x.dtype), jax.lax.add)
        if self.padding == "VALID" or self.padding == ((0, 0), (0, 0)):
            return total / (self.kernel_size[0] * self.kernel_size[1])
        ones = jnp.ones((1,) * (x.ndim - 3) + x.shape[-3:-1] + (1,), x.dtype)
        return total / self._reduce(ones, np.zeros((), x.dtype), jax.lax.add)


class MaxPool2d(_Pool2d):
    r"""Maximum over ``kh x kw`` windows of channels-last images.

    Same parameters as :class:`AvgPool2d` (padded pixels never win). On spikes (0/1) it is an
    OR over the window; its gradient goes to the window's (first) largest input.

    .. math:: y_{n,i,j,c} = \max_{(a,b) \in w_{ij}} x_{n,a,b,c}

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> x = jnp.arange(16.).reshape(1, 4, 4, 1)
    >>> layers.MaxPool2d(2)(x)[0, :, :, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """

    __module__ = "brainsim.layers"

    def _pool(self, x: Any) -> Any:
        return self._reduce(x, np.array(-np.inf, x.dtype), jax.lax.max)
