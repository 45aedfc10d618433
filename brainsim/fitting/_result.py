"""What a fit returns."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FitResult"]


@dataclass
class FitResult:
    """The result of :meth:`TraceFitter.fit` or :meth:`SpikeFitter.fit`.

    Attributes
    ----------
    params : dict of Quantity
        The best parameters found, in the units of their bounds.
    error : float
        Their error under the fit's metric (SI units: volt\\ :sup:`2` for the
        MSE of a voltage).
    history : list of dict
        One entry per round (and a last one after the final step):
        ``round``, ``error`` (best so far), ``round_error`` (best of the
        round), ``params`` (best so far, Quantities) and ``time`` (seconds
        since the search started).
    all : dict
        Every evaluated candidate: one Quantity array per parameter, and
        ``'error'``, shape ``[(n_rounds + 1) * n_samples]``.
    gamma : float or None
        For a spike fit, the mean gamma factor of the best parameters on the
        training data; ``None`` for traces.
    devices : int
        The number of devices the candidates were split over.
    """

    params: dict[str, Any]
    error: float
    history: list[dict[str, Any]] = field(repr=False)
    all: dict[str, Any] = field(repr=False)
    gamma: float | None = None
    devices: int = 1

    __module__ = "brainsim.fitting"
