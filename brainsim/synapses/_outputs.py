"""Synaptic outputs: turn a conductance into a current."""
from __future__ import annotations

from typing import Any

import brainunit as u

from .._checks import check_finite, check_positive
from .._errors import UnitMismatchError

__all__ = ["SynOut", "COBA", "CUBA", "MgBlock"]


class SynOut:
    """Base class: ``out(g, V) -> current``; equal :meth:`share_key` means equal behaviour."""

    __module__ = "brainsim.synapses"
    _params: tuple[str, ...] = ()

    def __call__(self, g: Any, V: Any) -> Any:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define __call__(g, V) returning the "
                        "synaptic current.")

    def share_key(self) -> tuple:
        return (type(self).__name__,) + tuple((p, repr(getattr(self, p))) for p in self._params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{p}={getattr(self, p)!r}' for p in self._params)})"


class COBA(SynOut):
    r"""Conductance-based output, :math:`I = g (E - V)`.

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim.synapses import COBA
    >>> COBA(E=0. * u.mV)(2. * u.nS, -60. * u.mV).to_decimal(u.pA)
    120.0
    """

    __module__ = "brainsim.synapses"
    _params = ("E",)

    def __init__(self, E: Any):
        check_finite("COBA", E=E)
        self.E = E

    def __call__(self, g: Any, V: Any) -> Any:
        try:
            return g * (self.E - V)
        except u.UnitMismatchError:  # brainunit's error is no ValueError: name the argument
            raise UnitMismatchError(
                f"COBA: the reversal potential E={self.E!r} and the membrane potential (unit "
                f"{u.get_unit(V)}) must have the same kind of unit. How to fix: give E as a "
                "voltage such as 0. * u.mV, or as a plain number for unitless models."
            ) from None


class CUBA(SynOut):
    r"""Current-based output, :math:`I = \mathrm{scale} \cdot g` (``V`` is ignored).

    Examples
    --------
    >>> from brainsim.synapses import CUBA
    >>> CUBA(scale=2.)(3., None)
    6.0
    """

    __module__ = "brainsim.synapses"
    _params = ("scale",)

    def __init__(self, scale: Any = 1.):
        self.scale = scale

    def __call__(self, g: Any, V: Any = None) -> Any:
        return g * self.scale


class MgBlock(SynOut):
    r"""Conductance output with the NMDA magnesium block (Jahr & Stevens 1990).

    .. math:: I = \frac{g (E - V)}{1 + \frac{[\mathrm{Mg}]}{\beta} e^{-\alpha V}}

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim.synapses import MgBlock
    >>> I = MgBlock()(1. * u.nS, -60. * u.mV)
    >>> round(float(I.to_decimal(u.pA)), 2)
    4.03
    """

    __module__ = "brainsim.synapses"
    _params = ("E", "cc_Mg", "alpha", "beta")

    def __init__(self, E: Any = 0. * u.mV, cc_Mg: Any = 1.2 * u.mM, alpha: Any = 0.062 / u.mV,
                 beta: Any = 3.57 * u.mM):
        check_finite("MgBlock", E=E, alpha=alpha)
        check_positive("MgBlock", "cc_Mg", cc_Mg, allow_zero=True, example="1.2 * u.mM")
        check_positive("MgBlock", "beta", beta, example="3.57 * u.mM")
        self.E, self.cc_Mg, self.alpha, self.beta = E, cc_Mg, alpha, beta

    def __call__(self, g: Any, V: Any) -> Any:
        block = 1. + u.maybe_decimal(self.cc_Mg / self.beta) * u.math.exp(-u.maybe_decimal(self.alpha * V))
        return g * (self.E - V) / block
