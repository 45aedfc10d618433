"""Recursive least squares: an online linear readout, exact ridge regression one batch at a time."""

from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import cho_factor, cho_solve

from .._module import Module
from .._state import LongTermState, ParamState

__all__ = ["RLS"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"RLS: {name} must be a positive int, got {value!r}. "
                         f"Example: RLS({name}=100, ...).")
    return int(value)


def _as_batch(name: str, value: Any, width: int, width_name: str) -> tuple[jax.Array, bool]:
    """``value`` as a float 2-D ``(B, width)`` array, and whether it was 1-D."""
    if isinstance(value, u.Quantity):
        raise TypeError(
            f"RLS: {name} is a Quantity with unit {value.unit}; RLS works on plain arrays. "
            f"How to fix: pass its mantissa in the unit you train in, e.g. "
            f"{name}.to_decimal(u.mV).")
    arr = jnp.asarray(value)
    if arr.ndim not in (1, 2) or arr.shape[-1] != width:
        raise ValueError(
            f"RLS: {name} has shape {tuple(arr.shape)}, expected ({width_name},) = ({width},) or "
            f"(batch, {width_name}) = (batch, {width}). How to fix: reshape {name} so that its "
            f"last axis has the readout's {width_name}={width}.")
    return (arr[None] if arr.ndim == 1 else arr), arr.ndim == 1


class RLS(Module):
    r"""Recursive least squares (RLS) for a linear readout ``y = x @ W``, trained online.

    After the batches :math:`(X_1, Y_1), \dots, (X_k, Y_k)` (rows are samples), :math:`W`
    minimises the exponentially weighted, ridge-regularised squared error

    .. math::

        J_k(W) = \sum_{j=1}^{k} \lambda^{k-j} \lVert Y_j - X_j W \rVert_F^2
                 + \lambda^{k} \alpha \lVert W \rVert_F^2 ,

    exactly, without storing the data: RLS carries the inverse correlation matrix
    :math:`P_k = (\lambda^k \alpha I + \sum_j \lambda^{k-j} X_j^\top X_j)^{-1}`, starting from
    :math:`P_0 = I / \alpha`, :math:`W_0 = 0`. One call of :meth:`update` with a batch
    :math:`X` of shape ``(B, n_in)`` and targets :math:`Y` of shape ``(B, n_out)`` does

    .. math::

        E &= Y - X W                          && \text{(a-priori error, B x n_out)} \\
        K &= P X^\top (\lambda I_B + X P X^\top)^{-1}   && \text{(gain, n_in x B)} \\
        W &\leftarrow W + K E \\
        P &\leftarrow (P - K X P) / \lambda

    (Woodbury's identity; for ``B = 1`` this is the textbook update with gain
    :math:`k = P x / (\lambda + x^\top P x)`). With ``forgetting=1`` one pass over the data,
    in any batching, gives the ridge solution :math:`W = (X^\top X + \alpha I)^{-1} X^\top Y`.
    Used step by step on a network whose output is fed back, this is FORCE learning
    (Sussillo & Abbott, 2009).

    Parameters
    ----------
    n_in : int
        Number of readout inputs (features), e.g. reservoir neurons.
    n_out : int
        Number of outputs.
    alpha : float, default 1.0
        Ridge regularisation; the initial :math:`P` is :math:`I/\alpha`. Small ``alpha``
        means a large initial learning rate (FORCE usually takes 1 or less).
    forgetting : float, default 1.0
        Forgetting factor :math:`\lambda \in (0, 1]`, applied once per :meth:`update`
        call. 1 keeps all data equally weighted.
    dtype : dtype, default float32
        Dtype of ``W`` and ``P``. Use float64 (``jax.config.update('jax_enable_x64', True)``)
        for many inputs with strongly correlated features: ``P`` loses precision first.

    Attributes
    ----------
    W : ParamState, shape ``(n_in, n_out)``
        The readout weights.
    P : LongTermState, shape ``(n_in, n_in)``
        The inverse correlation matrix. Memory grows as ``n_in**2``.

    Notes
    -----
    The states are created here and are not touched by :func:`brainsim.init_states` or
    :func:`brainsim.reset_states`, so resetting a network between samples keeps what the
    readout has learned. :meth:`update` only reads and writes states: it works eagerly, in
    :func:`brainsim.jit` and in :func:`brainsim.for_loop`. Inputs are plain (unitless) arrays.
    One update costs :math:`O(n_\mathrm{in}^2 B + B^3)`.

    Examples
    --------
    >>> import numpy as np, brainsim
    >>> x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    >>> y = x @ np.array([[1.], [-2.], [0.5]], np.float32)
    >>> rls = brainsim.train.RLS(3, 1, alpha=1e-3)
    >>> err = rls.update(x, y)                    # one batch of 50 samples
    >>> np.round(np.asarray(rls.W.value).ravel(), 3).tolist()
    [1.0, -2.0, 0.5]
    >>> bool(np.allclose(rls(x), y, atol=1e-3))
    True
    """

    __module__ = "brainsim.train"

    def __init__(self, n_in: int, n_out: int, alpha: float = 1.0, forgetting: float = 1.0,
                 dtype: Any = jnp.float32, name: str | None = None):
        super().__init__(name=name)
        self.n_in = _positive_int("n_in", n_in)
        self.n_out = _positive_int("n_out", n_out)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating, np.integer)) \
                or not np.isfinite(alpha) or alpha <= 0:
            raise ValueError(f"RLS: alpha must be a positive finite float (the initial P is "
                             f"I/alpha), got {alpha!r}. Example: alpha=1.0.")
        if isinstance(forgetting, bool) or not isinstance(forgetting, (int, float, np.floating)) \
                or not 0 < forgetting <= 1:
            raise ValueError(f"RLS: forgetting must be a float in (0, 1], got {forgetting!r}. "
                             f"Use 1.0 to weigh all data equally, e.g. 0.999 to forget slowly.")
        dtype = jnp.dtype(dtype)
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"RLS: dtype must be a floating dtype, got {dtype}.")
        self.alpha = float(alpha)
        self.forgetting = float(forgetting)
        self.dtype = dtype
        self.W = ParamState(jnp.zeros((self.n_in, self.n_out), dtype))
        self.P = LongTermState(jnp.eye(self.n_in, dtype=dtype) / jnp.asarray(self.alpha, dtype))

    def _repr_fields(self) -> dict[str, Any]:
        return {"n_in": self.n_in, "n_out": self.n_out, "alpha": self.alpha,
                "forgetting": self.forgetting}

    def __call__(self, x: Any) -> jax.Array:
        """Readout ``x @ W`` for ``x`` of shape ``(n_in,)`` or ``(B, n_in)``."""
        X, single = _as_batch("x", x, self.n_in, "n_in")
        out = X.astype(self.dtype) @ self.W.value
        return out[0] if single else out

    def update(self, x: Any, y: Any) -> jax.Array:
        """Learn from a batch; returns the a-priori error ``y - x @ W`` (before the update).

        Parameters
        ----------
        x : array, shape ``(n_in,)`` or ``(B, n_in)``
            Readout inputs.
        y : array, shape ``(n_out,)`` or ``(B, n_out)``
            Targets, with the same batch size as ``x``.

        Returns
        -------
        array, shape of ``y``
            The error of the readout before this update.
        """
        X, _ = _as_batch("x", x, self.n_in, "n_in")
        Y, single = _as_batch("y", y, self.n_out, "n_out")
        if X.shape[0] != Y.shape[0]:
            raise ValueError(
                f"RLS.update: x holds {X.shape[0]} sample(s) but y holds {Y.shape[0]}; give one "
                f"target row per input row (x: (B, {self.n_in}), y: (B, {self.n_out})).")
        X, Y = X.astype(self.dtype), Y.astype(self.dtype)
        P, W, lam = self.P.value, self.W.value, self.forgetting
        E = Y - X @ W
        PXt = P @ X.T                                           # (n_in, B)
        S = lam * jnp.eye(X.shape[0], dtype=self.dtype) + X @ PXt
        Kt = cho_solve(cho_factor(S, lower=True), PXt.T)        # K^T = S^-1 X P, (B, n_in)
        self.W.value = W + Kt.T @ E
        P = (P - PXt @ Kt) / lam
        # rounding breaks the symmetry of P, which then drifts away from positive definite
        self.P.value = 0.5 * (P + P.T)
        return E[0] if single else E


RLS.__module__ = "brainsim.train"
# doctest skips objects whose __module__ names another module; collect the class example here
__test__ = {"RLS": RLS}
