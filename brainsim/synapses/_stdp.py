"""Pair-based spike-timing-dependent plasticity with exponential traces."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .._dynamics import DynamicsModule
from .._state import HiddenState, State
from ._base import check_tau, decay

__all__ = ["STDP"]


class STDP(DynamicsModule):
    r"""Pair-based trace STDP on dense or CSR weights.

    Each step the traces decay and jump, then the weights change:

    .. math::
        a_\mathrm{pre} &\leftarrow a_\mathrm{pre} e^{-\Delta t/\tau_\mathrm{pre}} + s_\mathrm{pre},
        \qquad a_\mathrm{post} \leftarrow a_\mathrm{post} e^{-\Delta t/\tau_\mathrm{post}} + s_\mathrm{post} \\
        w_{ij} &\leftarrow \mathrm{clip}\left(w_{ij} + A_+ a_{\mathrm{pre},i}\, s_{\mathrm{post},j}
            - A_- s_{\mathrm{pre},i}\, a_{\mathrm{post},j},\ w_\mathrm{min}, w_\mathrm{max}\right)

    Parameters
    ----------
    weight : State
        The weights to learn: a dense ``(n_pre, n_post)`` array, or the data
        ``(nse,)`` of a CSR matrix (pass ``indices``/``indptr`` then).
    n_pre, n_post : int
    indices, indptr : arrays, optional
        CSR structure (row = presynaptic neuron).
    tau_pre, tau_post : Quantity (time)
    A_plus, A_minus : float or Quantity (unit of the weights)
    w_min, w_max : float or Quantity, optional

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> w = brainsim.State(jnp.zeros((2, 2)))
    >>> stdp = brainsim.init_states(brainsim.synapses.STDP(w, 2, 2, A_plus=1., A_minus=0.))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     stdp(jnp.array([1., 0.]), jnp.zeros(2))
    ...     stdp(jnp.zeros(2), jnp.array([0., 1.]))      # pre 0 before post 1
    >>> round(float(w.value[0, 1]), 4)   # exp(-1 ms / 20 ms)
    0.9512
    """

    __module__ = "brainsim.synapses"

    def __init__(self, weight: State, n_pre: int, n_post: int, indices: Any = None,
                 indptr: Any = None, tau_pre: Any = 20. * u.ms, tau_post: Any = 20. * u.ms,
                 A_plus: Any = 0.01, A_minus: Any = 0.0105, w_min: Any = None, w_max: Any = None,
                 name: str | None = None):
        super().__init__(n_post, name=name)
        if not isinstance(weight, State):
            raise TypeError(f"STDP: weight must be a brainsim.State holding the weights, got "
                            f"{type(weight).__name__}. Wrap it: brainsim.ParamState(w).")
        self.weight = weight
        self.n_pre, self.n_post = int(n_pre), int(n_post)
        shape = tuple(jnp.shape(u.get_mantissa(weight.value)))
        if indices is None:
            if shape != (self.n_pre, self.n_post):
                raise ValueError(f"STDP: dense weights must have shape ({n_pre}, {n_post}), "
                                 f"got {shape}.")
            self.rows = self.cols = None
        else:
            indptr = jnp.asarray(indptr)
            self.cols = jnp.asarray(indices, jnp.int32)
            if shape != (self.cols.shape[0],):
                raise ValueError(f"STDP: CSR weights must have shape ({self.cols.shape[0]},) "
                                 f"(one per synapse), got {shape}.")
            self.rows = jnp.repeat(jnp.arange(self.n_pre, dtype=jnp.int32), jnp.diff(indptr),
                                   total_repeat_length=self.cols.shape[0])
        self.tau_pre = check_tau("STDP", "tau_pre", tau_pre)
        self.tau_post = check_tau("STDP", "tau_post", tau_post)
        self.A_plus, self.A_minus, self.w_min, self.w_max = A_plus, A_minus, w_min, w_max

    def init_state(self, batch_size: int | None = None) -> None:
        self.trace_pre = HiddenState(jnp.zeros((self.n_pre,), jnp.float32))
        self.trace_post = HiddenState(jnp.zeros((self.n_post,), jnp.float32))

    def update(self, pre_spike: Any, post_spike: Any) -> None:
        sp = jnp.asarray(pre_spike, jnp.float32)
        so = jnp.asarray(post_spike, jnp.float32)
        a_pre = self.trace_pre.value * decay(self.tau_pre) + sp
        a_post = self.trace_post.value * decay(self.tau_post) + so
        self.trace_pre.value, self.trace_post.value = a_pre, a_post
        if self.rows is None:
            dw = self.A_plus * jnp.outer(a_pre, so) - self.A_minus * jnp.outer(sp, a_post)
        else:
            dw = (self.A_plus * a_pre[self.rows] * so[self.cols]
                  - self.A_minus * sp[self.rows] * a_post[self.cols])
        w = self.weight.value + dw
        if self.w_min is not None or self.w_max is not None:
            w = u.math.clip(w, self.w_min, self.w_max)
        self.weight.value = w
