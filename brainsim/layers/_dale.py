"""A dense layer whose weights keep the sign of their presynaptic neuron (Dale's law)."""
from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from .._checks import check_size
from ._dense import Linear

__all__ = ["DaleLinear"]


class DaleLinear(Linear):
    r"""Dense linear map whose rows are excitatory (positive) or inhibitory (negative).

    The trainable weight :math:`W` is unconstrained; the map uses

    .. math:: y_j = \sum_i x_i\, |W_{ij}|\, s_i\, m_{ij} + b_j, \qquad
        s_i = \begin{cases} +1 & i < n_\mathrm{exc} \\ -1 & i \ge n_\mathrm{exc}\end{cases}

    with :math:`m_{ij} = 0` on the diagonal when ``self_connections=False``
    (and 1 elsewhere), so every output of an excitatory input is
    non-negative and every output of an inhibitory input is non-positive,
    whatever the optimiser does to :math:`W` (Song, Yang & Wang 2016). The
    gradient reaches :math:`W` through :math:`|W|`. As in :class:`Linear`, a ``bool`` input
    ``(..., in_size)`` is read as events: the signed rows at its True entries are summed.

    Parameters
    ----------
    in_size, out_size : int
    n_exc : int
        The first ``n_exc`` inputs are excitatory, the others inhibitory.
    weight : array or callable(shape), optional
        Initial unconstrained weight ``(in_size, out_size)``; default N(0, 1/in_size).
    bias : bool
        Add a trainable bias ``(out_size,)``.
    self_connections : bool
        Keep the diagonal (``in_size == out_size`` only matters); ``False`` zeroes it.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import layers
    >>> layer = layers.DaleLinear(3, 3, n_exc=2, weight=-jnp.ones((3, 3)),
    ...                           self_connections=False)
    >>> layer.effective_weight().tolist()
    [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]]
    >>> layer(jnp.array([1., 1., 1.])).tolist()
    [0.0, 0.0, 2.0]
    """

    __module__ = "brainsim.layers"

    def __init__(self, in_size: int, out_size: int, n_exc: int, weight: Any = None,
                 bias: bool = False, self_connections: bool = True, name: str | None = None):
        super().__init__(in_size, out_size, weight=weight, bias=bias, name=name)
        n_exc = check_size("DaleLinear", "n_exc", n_exc)
        if n_exc > self.in_size:
            raise ValueError(f"DaleLinear: n_exc={n_exc} exceeds in_size={self.in_size}. How to "
                             f"fix: give 0 <= n_exc <= in_size (the first n_exc inputs are "
                             "excitatory).")
        if hasattr(self.weight.value, "unit"):
            raise TypeError("DaleLinear: weight must be a plain array (the signs are applied to "
                            "its magnitude). How to fix: give the weight without units.")
        self.n_exc = n_exc
        self.self_connections = bool(self_connections)
        sign = np.where(np.arange(self.in_size) < n_exc, 1., -1.)[:, None]
        mask = np.ones((self.in_size, self.out_size)) * sign
        if not self.self_connections:
            k = min(self.in_size, self.out_size)
            mask[np.arange(k), np.arange(k)] = 0.
        self.mask = jnp.asarray(mask, jnp.result_type(self.weight.value))

    def effective_weight(self) -> Any:
        """The signed weight used by the map, :math:`|W| \\odot s \\odot m`, shape ``(in, out)``."""
        return jnp.abs(self.weight.value) * self.mask
