r"""Concrete surrogate-gradient spike functions.

All share the forward pass :math:`H(x)` (1 for :math:`x > 0`, else 0) and
differ in the derivative used for learning, written :math:`g'(x)` below.
Defaults follow BrainPy/brainstate unless noted (snnTorch for ``Arctan`` and
``FastSigmoid``).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

from ._base import Surrogate, _check_positive

__all__ = [
    'Sigmoid', 'sigmoid', 'Arctan', 'arctan', 'FastSigmoid', 'fast_sigmoid',
    'PiecewiseLinear', 'piecewise_linear', 'Gaussian', 'gaussian',
    'InvSquare', 'inv_square', 'MultiGaussian', 'multi_gaussian',
    'SoftSign', 'soft_sign', 'PiecewiseExp', 'piecewise_exp',
]

_SQRT_2PI = math.sqrt(2 * math.pi)


def _normal_pdf(x, mu, sigma):
    return jnp.exp(-0.5 * ((x - mu) / sigma) ** 2) / (_SQRT_2PI * sigma)


class Sigmoid(Surrogate):
    r"""Spike with the derivative of a sigmoid as surrogate.

    .. math:: g'(x) = \alpha\, s(\alpha x)\,(1 - s(\alpha x)), \qquad s(z) = \frac{1}{1 + e^{-z}}

    Parameters
    ----------
    alpha : float, default 4.0 (BrainPy; snnTorch's ``slope`` default is 25)
        Sharpness; the peak :math:`g'(0) = \alpha / 4`.

    Examples
    --------
    >>> import jax, jax.numpy as jnp
    >>> from brainsim.surrogate import Sigmoid
    >>> Sigmoid(alpha=4.)(jnp.array([-1., 0., 1.]))
    Array([0., 0., 1.], dtype=float32)
    >>> float(jax.grad(Sigmoid(alpha=4.))(0.0))
    1.0
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 4.0):
        _check_positive('Sigmoid', alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        z = self.alpha * x
        # s(z) s(-z) == s(z)(1 - s(z)) without the cancellation of 1 - s in the tail
        return self.alpha * jax.nn.sigmoid(z) * jax.nn.sigmoid(-z)


class Arctan(Surrogate):
    r"""Spike with the derivative of a scaled arctangent as surrogate.

    .. math:: g'(x) = \frac{\alpha}{2\left(1 + \left(\frac{\pi}{2}\alpha x\right)^2\right)}

    Parameters
    ----------
    alpha : float, default 2.0 (snnTorch ``ATan`` and SpikingJelly)
        Sharpness; the peak :math:`g'(0) = \alpha / 2` and the area is 1.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import Arctan
    >>> float(jax.grad(Arctan())(0.0))
    1.0
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 2.0):
        _check_positive('Arctan', alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        return self.alpha / (2. * (1. + (0.5 * math.pi * self.alpha * x) ** 2))


class FastSigmoid(Surrogate):
    r"""SuperSpike / fast-sigmoid surrogate (Zenke & Ganguli 2018).

    .. math:: g'(x) = \frac{1}{(1 + \alpha |x|)^2}

    Parameters
    ----------
    alpha : float, default 25.0 (snnTorch ``fast_sigmoid`` ``slope``)
        Sharpness; the peak is 1 and the width about :math:`1/\alpha`.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import FastSigmoid
    >>> round(float(jax.grad(FastSigmoid(alpha=1.))(1.0)), 6)
    0.25
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 25.0):
        _check_positive(type(self).__name__, alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        return 1. / (1. + self.alpha * jnp.abs(x)) ** 2


class InvSquare(FastSigmoid):
    r"""Inverse-square surrogate (BrainPy's ``inv_square_grad``).

    .. math:: g'(x) = \frac{1}{(1 + \alpha |x|)^2}

    The same curve as :class:`FastSigmoid`, under BrainPy's name and default.

    Parameters
    ----------
    alpha : float, default 100.0 (BrainPy)
        Sharpness; the peak is 1 and the width about :math:`1/\alpha`.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import InvSquare
    >>> round(float(jax.grad(InvSquare())(0.01)), 6)   # 1 / (1 + 1)^2
    0.25
    """

    def __init__(self, alpha: float = 100.0):
        super().__init__(alpha)


class PiecewiseLinear(Surrogate):
    r"""Triangle (piecewise-linear) surrogate (Esser et al. 2016; Bellec et al. 2018).

    .. math:: g'(x) = \alpha \max\left(0,\ 1 - \alpha |x|\right)

    Parameters
    ----------
    alpha : float, default 1.0
        Sharpness; support :math:`|x| < 1/\alpha`, peak :math:`\alpha`, area 1.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import PiecewiseLinear
    >>> float(jax.grad(PiecewiseLinear(alpha=2.))(0.25))
    1.0
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 1.0):
        _check_positive('PiecewiseLinear', alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        return self.alpha * jnp.maximum(0., 1. - self.alpha * jnp.abs(x))


class Gaussian(Surrogate):
    r"""Gaussian surrogate (Yin, Corradi & Bohte 2021).

    .. math:: g'(x) = \alpha\, \mathcal{N}(x; 0, \sigma^2)
              = \frac{\alpha}{\sqrt{2\pi}\,\sigma} e^{-x^2 / (2\sigma^2)}

    Parameters
    ----------
    sigma : float, default 0.5
        Width (smaller is sharper).
    alpha : float, default 0.5
        Scale (area under :math:`g'`).

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import Gaussian
    >>> round(float(jax.grad(Gaussian(sigma=1., alpha=1.))(0.0)), 6)   # 1/sqrt(2 pi)
    0.398942
    """
    _params = ('sigma', 'alpha')

    def __init__(self, sigma: float = 0.5, alpha: float = 0.5):
        _check_positive('Gaussian', sigma=sigma, alpha=alpha)
        self.sigma, self.alpha = sigma, alpha

    def surrogate_grad(self, x):
        return self.alpha * _normal_pdf(x, 0., self.sigma)


class MultiGaussian(Surrogate):
    r"""Multi-Gaussian surrogate with negative side lobes (Yin, Corradi & Bohte 2021).

    .. math:: g'(x) = \text{scale}\left[(1 + h)\,\mathcal{N}(x; 0, \sigma^2)
              - h\,\mathcal{N}(x; \sigma, (s\sigma)^2) - h\,\mathcal{N}(x; -\sigma, (s\sigma)^2)\right]

    Parameters
    ----------
    h : float, default 0.15
        Depth of the negative lobes.
    s : float, default 6.0
        Width of the lobes relative to ``sigma``.
    sigma : float, default 0.5
        Width of the central peak.
    scale : float, default 0.5
        Overall scale.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import MultiGaussian
    >>> float(jax.grad(MultiGaussian())(3.0)) < 0   # negative tail
    True
    """
    _params = ('h', 's', 'sigma', 'scale')

    def __init__(self, h: float = 0.15, s: float = 6.0, sigma: float = 0.5, scale: float = 0.5):
        _check_positive('MultiGaussian', s=s, sigma=sigma, scale=scale)
        self.h, self.s, self.sigma, self.scale = h, s, sigma, scale

    def surrogate_grad(self, x):
        wide = self.s * self.sigma
        return self.scale * ((1. + self.h) * _normal_pdf(x, 0., self.sigma)
                             - self.h * _normal_pdf(x, self.sigma, wide)
                             - self.h * _normal_pdf(x, -self.sigma, wide))


class SoftSign(Surrogate):
    r"""Soft-sign surrogate: the derivative of :math:`\tfrac12\left(\frac{\alpha x}{1 + |\alpha x|} + 1\right)`.

    .. math:: g'(x) = \frac{\alpha}{2 (1 + \alpha |x|)^2}

    Parameters
    ----------
    alpha : float, default 1.0 (BrainPy)
        Sharpness; peak :math:`\alpha/2`, area 1.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import SoftSign
    >>> float(jax.grad(SoftSign(alpha=2.))(0.0))
    1.0
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 1.0):
        _check_positive('SoftSign', alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        return self.alpha / (2. * (1. + self.alpha * jnp.abs(x)) ** 2)


class PiecewiseExp(Surrogate):
    r"""Piecewise-exponential (Laplace) surrogate (Neftci, Mostafa & Zenke 2019).

    .. math:: g'(x) = \frac{\alpha}{2} e^{-\alpha |x|}

    Parameters
    ----------
    alpha : float, default 1.0 (BrainPy)
        Sharpness; peak :math:`\alpha/2`, area 1.

    Examples
    --------
    >>> import jax
    >>> from brainsim.surrogate import PiecewiseExp
    >>> float(jax.grad(PiecewiseExp(alpha=2.))(0.0))
    1.0
    """
    _params = ('alpha',)

    def __init__(self, alpha: float = 1.0):
        _check_positive('PiecewiseExp', alpha=alpha)
        self.alpha = alpha

    def surrogate_grad(self, x):
        return 0.5 * self.alpha * jnp.exp(-self.alpha * jnp.abs(x))


def _functional(cls, name):
    def fn(x: Any, *args: Any, **kwargs: Any) -> jax.Array:
        return cls(*args, **kwargs)(x)

    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = 'brainsim.surrogate'
    fn.__doc__ = (f'Functional form of :class:`{cls.__name__}`: ``{name}(x, **params)`` is '
                  f'``{cls.__name__}(**params)(x)``; see the class for the formula and defaults.')
    return fn


sigmoid = _functional(Sigmoid, 'sigmoid')
arctan = _functional(Arctan, 'arctan')
fast_sigmoid = _functional(FastSigmoid, 'fast_sigmoid')
inv_square = _functional(InvSquare, 'inv_square')
piecewise_linear = _functional(PiecewiseLinear, 'piecewise_linear')
gaussian = _functional(Gaussian, 'gaussian')
multi_gaussian = _functional(MultiGaussian, 'multi_gaussian')
soft_sign = _functional(SoftSign, 'soft_sign')
piecewise_exp = _functional(PiecewiseExp, 'piecewise_exp')

for _cls in (Sigmoid, Arctan, FastSigmoid, InvSquare, PiecewiseLinear, Gaussian, MultiGaussian,
             SoftSign, PiecewiseExp):
    _cls.__module__ = 'brainsim.surrogate'
