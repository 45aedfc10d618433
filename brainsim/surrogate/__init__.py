"""Surrogate-gradient spike functions.

Forward: the exact Heaviside step of a dimensionless input (1 for ``x > 0``,
0 otherwise, including ``x == 0``). Backward: a smooth surrogate derivative,
via ``jax.custom_jvp`` (jit, vmap, grad, jvp and higher orders compose).
Use a class (``Sigmoid(alpha=4.)(x)``), the functional form
(``sigmoid(x, alpha=4.)``) or a name (``get('sigmoid', alpha=4.)``).
"""
from ._base import Surrogate, heaviside
from ._functions import (Arctan, FastSigmoid, Gaussian, InvSquare, MultiGaussian, PiecewiseExp,
                         PiecewiseLinear, Sigmoid, SoftSign, arctan, fast_sigmoid, gaussian,
                         inv_square, multi_gaussian, piecewise_exp, piecewise_linear, sigmoid,
                         soft_sign)
from ._registry import NAMES, get

__all__ = [
    'Surrogate', 'heaviside', 'get', 'NAMES',
    'Sigmoid', 'sigmoid', 'Arctan', 'arctan', 'FastSigmoid', 'fast_sigmoid',
    'InvSquare', 'inv_square', 'PiecewiseLinear', 'piecewise_linear', 'Gaussian', 'gaussian',
    'MultiGaussian', 'multi_gaussian', 'SoftSign', 'soft_sign', 'PiecewiseExp', 'piecewise_exp',
]
