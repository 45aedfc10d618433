"""2-D convolution on channels-last (NHWC) inputs, with JAX's ``conv_general_dilated``."""
from __future__ import annotations

import operator
from typing import Any, Sequence

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import random as bsr
from .._checks import check_finite
from .._module import Module
from .._state import ParamState
from ..event._units import split_unit, wrap_unit

__all__ = ["Conv2d", "pair", "conv_padding", "check_image_input"]

_DIMS = ("NHWC", "HWIO", "NHWC")


def pair(cls: str, name: str, value: Any) -> tuple[int, int]:
    """``value`` (an int or a pair of ints, each >= 1) as ``(int, int)``; raise otherwise."""
    vals = value if isinstance(value, (tuple, list)) else (value, value)
    try:
        ok = len(vals) == 2 and all(not isinstance(v, (bool, np.bool_)) and operator.index(v) >= 1
                                    for v in vals)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{cls}: {name} must be a positive int or a pair of positive ints "
                         f"(height, width), got {value!r}. How to fix: pass e.g. {name}=3 or "
                         f"{name}=(3, 3).")
    return operator.index(vals[0]), operator.index(vals[1])


def positive_int(cls: str, name: str, value: Any) -> int:
    """``value`` as an ``int`` if it is an integer >= 1; raise otherwise."""
    try:
        ok = not isinstance(value, (bool, np.bool_)) and operator.index(value) >= 1
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{cls}: {name} must be a positive integer, got {value!r}. "
                         f"How to fix: pass e.g. {name}=16.")
    return operator.index(value)


def conv_padding(cls: str, padding: Any) -> str | tuple[tuple[int, int], tuple[int, int]]:
    """``'SAME'``, ``'VALID'``, or explicit ``((top, bottom), (left, right))`` zero padding."""
    if isinstance(padding, str):
        if padding.upper() in ("SAME", "VALID"):
            return padding.upper()
    else:
        vals = padding if isinstance(padding, (tuple, list)) else (padding, padding)
        try:
            if len(vals) == 2:
                out = []
                for v in vals:
                    lo, hi = v if isinstance(v, (tuple, list)) else (v, v)
                    lo, hi = operator.index(lo), operator.index(hi)
                    if lo < 0 or hi < 0:
                        raise TypeError
                    out.append((lo, hi))
                return tuple(out)  # type: ignore[return-value]
        except TypeError:
            pass
    raise ValueError(f"{cls}: padding must be 'SAME', 'VALID', a non-negative int p (p pixels on "
                     f"every side), a pair (ph, pw) or ((top, bottom), (left, right)); got "
                     f"{padding!r}.")


def check_image_input(cls: str, x: Any, channels: int) -> tuple[int, ...]:
    """Raise unless ``x`` has shape ``(..., H, W, channels)``; return its shape."""
    shape = tuple(jnp.shape(split_unit(x)[0]))
    if len(shape) < 3 or shape[-1] != channels:
        raise ValueError(f"{cls}: input has shape {shape} but the layer expects channels-last "
                         f"images (..., H, W, C) with C = {channels} (NHWC). How to fix: move the "
                         f"channel axis last, e.g. jnp.moveaxis(x, 1, -1) for NCHW data, or add "
                         f"the channel axis of a grey image with x[..., None].")
    return shape


class Conv2d(Module):
    r"""2-D convolution of channels-last images, ``y = x * W (+ b)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
        ``(kh, kw)``.
    stride : int or (int, int), default 1
    padding : 'SAME', 'VALID', int, (int, int) or ((int, int), (int, int)), default 'SAME'
        Zero padding; an int ``p`` pads ``p`` pixels on every side (``p = k // 2`` keeps the
        size for odd kernels and stride 1, like 'SAME').
    dilation : int or (int, int), default 1
        Kernel dilation (atrous convolution).
    groups : int, default 1
        Feature groups: ``in_channels`` and ``out_channels`` must both be divisible by it.
    weight : array, Quantity or callable(shape) -> array, optional
        Initial kernel of shape ``(kh, kw, in_channels // groups, out_channels)`` (HWIO);
        default N(0, 1/fan_in) with ``fan_in = kh * kw * in_channels // groups``. A Quantity
        gives the output its unit times the input's.
    bias : bool
        Add a trainable bias ``(out_channels,)`` (zeros).

    Notes
    -----
    Input ``(..., H, W, in_channels)``: any leading axes (batch, time) are flattened into the
    batch for the convolution and restored. Output ``(..., H', W', out_channels)`` with
    ``H' = ceil(H / s)`` for 'SAME' and ``floor((H + pads - d (kh - 1) - 1) / s) + 1``
    otherwise. As in deep-learning libraries the "convolution" is a cross-correlation:

    .. math:: y_{n,i,j,o} = \sum_{a,b,c} x_{n,\, s_h i + d_h a - p_h,\, s_w j + d_w b - p_w,\, c}
              \, W_{a,b,c,o} + b_o

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> conv = layers.Conv2d(1, 2, kernel_size=3, weight=jnp.ones((3, 3, 1, 2)))
    >>> y = conv(jnp.ones((4, 5, 5, 1)))
    >>> y.shape, float(y[0, 2, 2, 0]), float(y[0, 0, 0, 0])   # interior: 9 ones; corner: 4
    ((4, 5, 5, 2), 9.0, 4.0)
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: Any = "SAME",
                 dilation: int | Sequence[int] = 1, groups: int = 1, weight: Any = None,
                 bias: bool = False, name: str | None = None):
        super().__init__(name=name)
        cls = type(self).__name__
        self.in_channels = positive_int(cls, "in_channels", in_channels)
        self.out_channels = positive_int(cls, "out_channels", out_channels)
        self.groups = positive_int(cls, "groups", groups)
        for arg, n in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if n % self.groups:
                raise ValueError(f"{cls}: {arg} (={n}) must be divisible by groups "
                                 f"(={self.groups}). How to fix: choose groups that divides "
                                 f"both in_channels and out_channels.")
        self.kernel_size = pair(cls, "kernel_size", kernel_size)
        self.stride = pair(cls, "stride", stride)
        self.dilation = pair(cls, "dilation", dilation)
        self.padding = conv_padding(cls, padding)
        self.weight = ParamState(self._init_weight(weight))
        self.bias = ParamState(jnp.zeros(self.out_channels)) if bias else None

    @property
    def weight_shape(self) -> tuple[int, int, int, int]:
        """``(kh, kw, in_channels // groups, out_channels)``."""
        return (*self.kernel_size, self.in_channels // self.groups, self.out_channels)

    @property
    def fan_in(self) -> int:
        """Inputs summed per output: ``kh * kw * in_channels // groups``."""
        return int(np.prod(self.weight_shape[:-1]))

    def _init_weight(self, weight: Any) -> Any:
        cls, shape = type(self).__name__, self.weight_shape
        if weight is None:
            return bsr.normal(0.0, 1.0 / np.sqrt(self.fan_in), size=shape)
        w = weight(shape) if callable(weight) else weight
        if not isinstance(w, u.Quantity):
            w = jnp.asarray(w)
            w = w if jnp.issubdtype(w.dtype, jnp.inexact) else w.astype(jnp.float32)
        got = tuple(jnp.shape(split_unit(w)[0]))
        if got != shape:
            raise ValueError(f"{cls}: weight has shape {got}, expected {shape} = (kh, kw, "
                             f"in_channels // groups, out_channels) (HWIO). How to fix: for a "
                             f"PyTorch OIHW kernel pass jnp.transpose(w, (2, 3, 1, 0)).")
        check_finite(cls, weight=w)
        return w

    def kernel(self) -> Any:
        """The kernel the convolution uses (the weight itself here; standardised in WSConv2d)."""
        return self.weight.value

    def conv(self, x: Any, w: Any) -> Any:
        """Convolve ``x`` (..., H, W, C) with the HWIO kernel ``w`` (no bias, no checks)."""
        xm, xu = split_unit(x)
        wm, wu = split_unit(w)
        xm = jnp.asarray(xm)
        dtype = jnp.result_type(wm) if not jnp.issubdtype(xm.dtype, jnp.inexact) \
            else jnp.promote_types(xm.dtype, jnp.result_type(wm))
        lead = xm.shape[:-3]
        flat = xm.reshape((-1,) + xm.shape[-3:]).astype(dtype)
        y = jax.lax.conv_general_dilated(
            flat, jnp.asarray(wm, dtype), window_strides=self.stride, padding=self.padding,
            rhs_dilation=self.dilation, feature_group_count=self.groups,
            dimension_numbers=_DIMS)
        return wrap_unit(y.reshape(lead + y.shape[1:]), xu * wu)

    def update(self, x: Any) -> Any:
        check_image_input(type(self).__name__, x, self.in_channels)
        y = self.conv(x, self.kernel())
        if self.bias is not None:
            y = y + self.bias.value
        return y

    def __call__(self, x: Any) -> Any:
        return self.update(x)

    def _repr_fields(self) -> dict[str, Any]:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding}
