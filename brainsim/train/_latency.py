"""Event-driven input current of first-spike (latency) codes, for all time steps at once.

Under latency coding every input spikes at most once in ``T`` steps, so the
input current of a dense projection, ``I[t] = s[t] @ W`` for ``t < T``, touches
each weight row at most once per sample: ``B * n_spikes * n_out`` additions
instead of the ``T * B * n_in * n_out`` multiply-adds of the dense product
(about 250 times fewer for Fashion-MNIST at ``T = 100``). The product is
computed before the time loop, so BPTT differentiates a cheap gather.

On XLA:CPU the scatter and its gradient (a gather) run as compiled kernels of
brainsim's FFI extension (``_latency_kernel``; XLA:CPU's own scatter is slower
than the dense product). The dense one-hot product is the reference and the
fallback: without the extension (or with a build that predates these kernels),
on other backends, for dtypes other than float32/float64, or after
``brainsim.event.set_backend('jax')``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from ..event._backend import kernel_selected
from ._latency_kernel import KERNEL_DTYPES, built, gather_p, scatter_p

__all__ = ["first_spike_steps", "first_spike_current"]


def _use_kernels(dtype: Any) -> bool:
    return jnp.dtype(dtype) in KERNEL_DTYPES and kernel_selected() and built(dtype)


def _dense(steps: jax.Array, w: jax.Array, num_steps: int) -> jax.Array:
    onehot = (steps[None] == jnp.arange(num_steps)[:, None, None]).astype(w.dtype)
    return jnp.einsum("tbi,ih->tbh", onehot, w)


def _dense_grad(steps: jax.Array, g: jax.Array, num_steps: int) -> jax.Array:
    onehot = (steps[None] == jnp.arange(num_steps)[:, None, None]).astype(g.dtype)
    return jnp.einsum("tbi,tbh->ih", onehot, g)


# `kernel` (the backend choice) is a static argument so that it keys custom_vjp's trace cache:
# a later set_backend then applies to new traces of the same shapes
@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _current(steps: jax.Array, w: jax.Array, num_steps: int, kernel: bool) -> jax.Array:
    if kernel:
        return scatter_p.bind(steps, w, num_steps=num_steps)
    return _dense(steps, w, num_steps)


def _current_fwd(steps, w, num_steps, kernel):
    return _current(steps, w, num_steps, kernel), steps


def _current_bwd(num_steps, kernel, res, g):
    steps = res
    dw = gather_p.bind(steps, g) if kernel else _dense_grad(steps, g, num_steps)
    # integer steps have no cotangent
    return np.zeros(steps.shape, jax.dtypes.float0), dw


_current.defvjp(_current_fwd, _current_bwd)


def first_spike_steps(spikes: Any) -> jax.Array:
    """The step of each input's first spike, ``T`` where it never spikes.

    Parameters
    ----------
    spikes : array, shape (T, B, N)
        A spike train with time first (e.g. from ``brainsim.encoding.latency``).

    Returns
    -------
    int32 array, shape (B, N)

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import first_spike_steps
    >>> s = jnp.zeros((4, 1, 3)).at[2, 0, 0].set(1.).at[0, 0, 2].set(1.)
    >>> first_spike_steps(s).tolist()
    [[2, 4, 0]]
    """
    s = jnp.asarray(spikes)
    if s.ndim != 3:
        raise ValueError(
            f"spikes must have shape (T, B, N) with time first; got shape {tuple(s.shape)}. "
            "How to fix: add the batch axis, e.g. spikes[:, None]."
        )
    fired = s != 0
    first = jnp.argmax(fired, axis=0).astype(jnp.int32)
    return jnp.where(jnp.any(fired, axis=0), first, s.shape[0])


def first_spike_current(steps: Any, weight: Any, num_steps: int) -> Any:
    r"""Input current of a dense projection from first-spike inputs, for every step at once.

    .. math:: I_{t,b,h} = \sum_{i:\ k_{b,i} = t} W_{i,h}, \qquad 0 \le t < T

    which equals ``s[t] @ W`` for the spike train ``s[t, b, i] = [k_{b,i} = t]``,
    at a cost proportional to the number of spikes. The gradient with respect
    to ``W`` is exact; ``steps`` (integers) get none.

    Parameters
    ----------
    steps : int array, shape (B, N)
        The step of each input's single spike; any value outside ``[0, T)`` means
        no spike (see :func:`first_spike_steps`).
    weight : array or Quantity, shape (N, H)
        The projection weights, e.g. ``layer.weight.value``.
    num_steps : int
        ``T``, the number of time steps.

    Returns
    -------
    array or Quantity, shape (T, B, H)
        In the weight's unit.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.train import first_spike_current
    >>> W = jnp.array([[1., 0.], [0., 2.], [3., 3.]])
    >>> I = first_spike_current(jnp.array([[1, 0, 1]]), W, num_steps=3)
    >>> I[:, 0].tolist()
    [[0.0, 2.0], [4.0, 3.0], [0.0, 0.0]]
    """
    if not isinstance(num_steps, (int, np.integer)) or isinstance(num_steps, bool) \
            or num_steps < 1:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}.")
    unit = weight.unit if isinstance(weight, u.Quantity) else None
    w = jnp.asarray(weight.mantissa if unit is not None else weight)
    steps = jnp.asarray(steps)
    if not jnp.issubdtype(steps.dtype, jnp.integer):
        raise TypeError(
            f"steps must be integer time steps, got dtype {steps.dtype}. How to fix: use "
            "first_spike_steps(spikes), or jnp.floor(firing_times).astype(jnp.int32)."
        )
    if steps.ndim != 2 or w.ndim != 2 or steps.shape[1] != w.shape[0]:
        raise ValueError(
            f"steps must have shape (B, N) and weight shape (N, H) with the same N; got steps "
            f"{tuple(steps.shape)} and weight {tuple(w.shape)}."
        )
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    out = _current(steps.astype(jnp.int32), w, int(num_steps), _use_kernels(w.dtype))
    return out if unit is None else u.Quantity(out, unit=unit)
