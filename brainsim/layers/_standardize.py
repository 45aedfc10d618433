"""Scaled weight standardisation (Qiao et al. 2019; Brock et al. 2021) for Conv2d and Linear."""
from __future__ import annotations

from typing import Any, Sequence

import brainunit as u
import jax.numpy as jnp

from .._state import ParamState
from ._conv import Conv2d
from ._dense import Linear

__all__ = ["WSConv2d", "WSLinear", "standardize_weight"]


def standardize_weight(w: Any, eps: float = 1e-4, gain: Any = None) -> Any:
    r"""Scaled weight standardisation over all axes but the last (the output axis).

    .. math:: \hat W_{\cdot o} = g_o \,
              \frac{W_{\cdot o} - \mu_o}{\sqrt{\sigma_o^2 \, n_\mathrm{in} + \epsilon}}

    with :math:`\mu_o, \sigma_o^2` the mean and variance of output ``o``'s weights and
    :math:`n_\mathrm{in}` their number (the fan-in), so that each output sums unit-variance
    inputs to unit variance. A Quantity keeps its unit (its scale is removed).

    Parameters
    ----------
    w : array or Quantity, shape ``(..., n_out)``
    eps : float
    gain : array, shape ``(n_out,)``, optional

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.layers import standardize_weight
    >>> w = standardize_weight(jnp.array([[1., 0.], [3., 2.]]), eps=0.)
    >>> w.tolist()   # mean 0, variance 1 / fan_in = 1/2 per column
    [[-0.7071067690849304, -0.7071067690849304], [0.7071067690849304, 0.7071067690849304]]
    """
    unit = w.unit if isinstance(w, u.Quantity) else None
    m = w.mantissa if unit is not None else jnp.asarray(w)
    axes = tuple(range(m.ndim - 1))
    fan_in = 1
    for n in m.shape[:-1]:
        fan_in *= n
    mean = jnp.mean(m, axis=axes, keepdims=True)
    var = jnp.var(m, axis=axes, keepdims=True)
    out = (m - mean) / jnp.sqrt(var * fan_in + eps)
    if gain is not None:
        out = out * gain
    return out if unit is None else u.Quantity(out, unit=unit)


def _check_eps(cls: str, eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"{cls}: eps must be a non-negative float, got {eps!r}. "
                         f"Example: eps=1e-4.")
    return float(eps)


class WSConv2d(Conv2d):
    r""":class:`Conv2d` with a scaled, weight-standardised kernel and a learnable gain.

    The kernel used is :func:`standardize_weight` of ``weight`` (over ``kh, kw, in``) times the
    gain ``(out_channels,)`` (ones at start), recomputed at every call, so training moves the
    raw weights and the gain. This replaces batch normalisation in the online VGG of the BrainPy
    paper (Xiao et al. 2022's OTTT setup). Parameters as :class:`Conv2d`, plus:

    Parameters
    ----------
    gain : bool, default True
        Learn a per-channel gain (a ``ParamState``); without it the kernel has fixed scale.
    eps : float, default 1e-4
        Added to the fan-in-scaled variance.

    Examples
    --------
    >>> import jax.numpy as jnp, brainsim
    >>> from brainsim import layers
    >>> conv = layers.WSConv2d(2, 4, kernel_size=3, weight=lambda s: 5. + brainsim.random.normal(size=s))
    >>> k = conv.kernel()        # the raw weights' offset and scale are gone
    >>> round(float(jnp.abs(k.mean(axis=(0, 1, 2))).max()), 5), round(float(k.var(axis=(0, 1, 2)).mean() * 18), 2)
    (0.0, 1.0)
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: Any = "SAME",
                 dilation: int | Sequence[int] = 1, groups: int = 1, weight: Any = None,
                 bias: bool = False, gain: bool = True, eps: float = 1e-4,
                 name: str | None = None):
        eps = _check_eps(type(self).__name__, eps)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, weight, bias, name)
        self.eps = eps
        self.gain = ParamState(jnp.ones(self.out_channels)) if gain else None

    def kernel(self) -> Any:
        """The standardised kernel ``(kh, kw, in_channels // groups, out_channels)``."""
        g = None if self.gain is None else self.gain.value
        return standardize_weight(self.weight.value, self.eps, g)


class WSLinear(Linear):
    r""":class:`Linear` with a scaled, weight-standardised matrix and a learnable gain.

    ``y = x \hat W (+ b)`` with :math:`\hat W` = :func:`standardize_weight` of ``weight``
    (over ``in_size``) times the gain ``(out_size,)``. Parameters as :class:`Linear`, plus
    ``gain`` and ``eps`` as :class:`WSConv2d`.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> lin = layers.WSLinear(2, 1, weight=jnp.array([[3.], [1.]]), eps=0.)
    >>> round(float(lin(jnp.array([1., 0.]))[0]), 4)     # (3 - 2) / sqrt(1 * 2)
    0.7071
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_size: int, out_size: int, weight: Any = None, bias: bool = False,
                 gain: bool = True, eps: float = 1e-4, name: str | None = None):
        eps = _check_eps(type(self).__name__, eps)
        super().__init__(in_size, out_size, weight, bias, name)
        self.eps = eps
        self.gain = ParamState(jnp.ones(self.out_size)) if gain else None

    def kernel(self) -> Any:
        """The standardised matrix ``(in_size, out_size)``."""
        g = None if self.gain is None else self.gain.value
        return standardize_weight(self.weight.value, self.eps, g)

    def _product(self, x: Any, w: Any) -> Any:
        return super()._product(x, self.kernel())
