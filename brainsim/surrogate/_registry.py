"""Name lookup for surrogate functions."""
from __future__ import annotations

import difflib
from typing import Any

from ._base import Surrogate
from ._functions import (Arctan, FastSigmoid, Gaussian, InvSquare, MultiGaussian, PiecewiseExp,
                         PiecewiseLinear, Sigmoid, SoftSign)

__all__ = ['NAMES', 'get']

#: Accepted names (and aliases) -> class.
NAMES: dict[str, type] = {
    'sigmoid': Sigmoid,
    'arctan': Arctan, 'atan': Arctan,
    'fast_sigmoid': FastSigmoid, 'super_spike': FastSigmoid, 'superspike': FastSigmoid,
    'piecewise_linear': PiecewiseLinear, 'triangle': PiecewiseLinear,
    'gaussian': Gaussian,
    'inv_square': InvSquare,
    'multi_gaussian': MultiGaussian,
    'soft_sign': SoftSign,
    'piecewise_exp': PiecewiseExp,
}


def get(name: str | Surrogate, **params: Any) -> Surrogate:
    """Build a surrogate spike function by name.

    Parameters
    ----------
    name : str or Surrogate
        One of :data:`NAMES` (case-insensitive, ``-`` or ``_``), or an
        instance, which is returned unchanged (``params`` must then be empty).
    **params
        Hyper-parameters for the class (e.g. ``alpha=4.``).

    Raises
    ------
    ValueError
        For an unknown name (lists the valid names, suggests the closest).

    Examples
    --------
    >>> from brainsim import surrogate
    >>> surrogate.get('atan', alpha=3.)
    Arctan(alpha=3.0)
    """
    if isinstance(name, Surrogate):
        if params:
            raise ValueError(f'surrogate.get got an instance {name!r} and extra parameters {params}; '
                             f'pass either a name with parameters or a ready instance.')
        return name
    if not isinstance(name, str):
        raise TypeError(f'surrogate name must be a str or a Surrogate instance; got '
                        f'{type(name).__name__} {name!r}.')
    key = name.strip().lower().replace('-', '_')
    if key not in NAMES:
        close = difflib.get_close_matches(key, list(NAMES), n=1, cutoff=0.5)
        hint = f' Did you mean {close[0]!r}?' if close else ''
        raise ValueError(f'Unknown surrogate function {name!r}. Valid names: '
                         f'{", ".join(repr(k) for k in NAMES)}.{hint}')
    return NAMES[key](**params)
