"""Event-driven input current of first-spike (latency) codes, for all time steps at once.

Under latency coding every input spikes at most once in ``T`` steps, so the
input current of a dense projection, ``I[t] = s[t] @ W`` for ``t < T``, touches
each weight row at most once per sample: ``B * n_spikes * n_out`` additions
instead of the ``T * B * n_in * n_out`` multiply-adds of the dense product
(about 250 times fewer for Fashion-MNIST at ``T = 100``). The product is
computed before the time loop, so BPTT differentiates a cheap gather.

On CPU the scatter and its gradient run as small numba kernels through
``jax.pure_callback`` (XLA:CPU's own scatter is slower than the dense product);
without numba, or on other backends, the dense one-hot product is used.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["first_spike_steps", "first_spike_current"]

try:  # a declared dependency; the guard keeps brainsim importable on exotic platforms
    import numba as _numba
except ImportError:  # pragma: no cover
    _numba = None

_KERNELS: dict[str, Any] = {}


def _kernels() -> tuple[Any, Any]:
    """Compile the two kernels once per process (lazily: numba compiles in ~1 s)."""
    if not _KERNELS:
        nb = _numba

        @nb.njit(parallel=True, cache=False)
        def scatter(steps, w, num_steps):  # pragma: no cover - numba-compiled
            n_batch, n_in = steps.shape
            n_out = w.shape[1]
            out = np.zeros((num_steps, n_batch, n_out), w.dtype)
            # one sample per thread: the rows written never overlap
            for b in nb.prange(n_batch):
                for i in range(n_in):
                    t = steps[b, i]
                    if 0 <= t < num_steps:
                        for h in range(n_out):
                            out[t, b, h] += w[i, h]
            return out

        @nb.njit(parallel=True, cache=False)
        def gather(steps, g):  # pragma: no cover - numba-compiled
            num_steps, n_batch, n_out = g.shape
            n_in = steps.shape[1]
            dw = np.zeros((n_in, n_out), g.dtype)
            # one input per thread: each thread owns its row of dW
            for i in nb.prange(n_in):
                for b in range(n_batch):
                    t = steps[b, i]
                    if 0 <= t < num_steps:
                        for h in range(n_out):
                            dw[i, h] += g[t, b, h]
            return dw

        _KERNELS["scatter"], _KERNELS["gather"] = scatter, gather
    return _KERNELS["scatter"], _KERNELS["gather"]


def _use_kernels() -> bool:
    return _numba is not None and jax.default_backend() == "cpu"


def _dense(steps: jax.Array, w: jax.Array, num_steps: int) -> jax.Array:
    onehot = (steps[None] == jnp.arange(num_steps)[:, None, None]).astype(w.dtype)
    return jnp.einsum("tbi,ih->tbh", onehot, w)


def _host_scatter(steps: Any, w: Any, num_steps: int) -> np.ndarray:
    scatter, _ = _kernels()
    return scatter(np.asarray(steps), np.asarray(w), num_steps)


def _host_gather(steps: Any, g: Any) -> np.ndarray:
    _, gather = _kernels()
    return gather(np.asarray(steps), np.asarray(g))


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _current(steps: jax.Array, w: jax.Array, num_steps: int) -> jax.Array:
    if not _use_kernels():
        return _dense(steps, w, num_steps)
    shape = jax.ShapeDtypeStruct((num_steps, steps.shape[0], w.shape[1]), w.dtype)
    return jax.pure_callback(partial(_host_scatter, num_steps=num_steps), shape, steps, w)


def _current_fwd(steps, w, num_steps):
    return _current(steps, w, num_steps), steps


def _current_bwd(num_steps, res, g):
    steps = res
    if _use_kernels():
        shape = jax.ShapeDtypeStruct((steps.shape[1], g.shape[2]), g.dtype)
        dw = jax.pure_callback(_host_gather, shape, steps, g)
    else:
        onehot = (steps[None] == jnp.arange(num_steps)[:, None, None]).astype(g.dtype)
        dw = jnp.einsum("tbi,tbh->ih", onehot, g)
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
    out = _current(steps.astype(jnp.int32), w, int(num_steps))
    return out if unit is None else u.Quantity(out, unit=unit)
