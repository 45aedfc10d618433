"""Spike encoders: Poisson rate coding, latency coding and direct current."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

__all__ = ['poisson', 'current2firing_time', 'latency', 'direct']


def _check_steps(num_steps: Any) -> int:
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps <= 0:
        raise ValueError(f'num_steps must be a positive Python int (it fixes the output shape); '
                         f'got {num_steps!r}.')
    return num_steps


def _plain(x: Any, who: str) -> jax.Array:
    if isinstance(x, u.Quantity):
        if not u.get_dim(x).is_dimensionless:
            raise ValueError(f'{who}: x must be dimensionless (e.g. pixel intensities in [0, 1]); got '
                             f'unit {u.get_unit(x)}.')
        x = u.maybe_decimal(x)
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.result_type(float))


def _mix32(x: jax.Array) -> jax.Array:
    """32-bit integer finaliser (lowbias32): a bijection of uint32 with good avalanche."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def _hash_bits(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """Uniform uint32 words of ``shape`` from a counter hash seeded by two words of ``key``."""
    seed = jax.random.bits(key, (2,), jnp.uint32)
    n = 1
    for d in shape:
        n *= d
    counter = jax.lax.iota(jnp.uint32, n).reshape(shape)
    # a Weyl sequence through two rounds of the finaliser (the construction of splitmix)
    return _mix32(_mix32(counter * jnp.uint32(0x9E3779B9) + seed[0]) ^ seed[1])


def poisson(x: Any, num_steps: int, key: jax.Array, max_rate: Any = 1.0, dt: Any = None,
            dtype: Any = jnp.float32, rng: str = 'hash') -> jax.Array:
    r"""Poisson (Bernoulli per step) rate coding.

    At every step each element spikes independently with probability

    .. math:: p = \mathrm{clip}(x \cdot r_{\max}\,\Delta t,\ 0,\ 1)

    so the expected spike count over ``T`` steps is :math:`T p`.

    With ``rng='hash'`` (the default) the uniform draws come from a counter-based hash:
    two 32-bit words drawn from ``key`` seed a Weyl sequence over the ``T * size(x)``
    draws, each passed twice through a 32-bit integer finaliser, and a draw spikes when
    its top 24 bits are below :math:`\lfloor p\, 2^{24} \rfloor` (``p`` resolved to ``2**-24``). On XLA:CPU this is about
    50 times cheaper than JAX's threefry (``rng='threefry'``, ``jax.random.uniform``),
    which otherwise costs more than the forward and backward pass of a small network
    (``benchmarks/train_general.py``). Its statistical quality is ample for input
    encoding; use ``'threefry'`` where draws must be JAX's own random stream.

    Parameters
    ----------
    x : array, shape ``[...]`` (e.g. ``[B, N]``)
        Intensities, typically in [0, 1] (dimensionless).
    num_steps : int
        Number of time steps ``T``.
    key : jax PRNG key
        Randomness (e.g. ``jax.random.PRNGKey(0)`` or ``brainsim.random.split_key()``).
    max_rate : float or Quantity, default 1.0
        A float is the spike probability per step at ``x = 1``; a rate
        Quantity (e.g. ``100 * u.Hz``) needs ``dt``.
    dt : Quantity, optional
        Step duration, required when ``max_rate`` has a unit.
    dtype : dtype, default float32
        Output dtype.
    rng : {'hash', 'threefry'}
        The generator of the uniform draws (see above).

    Returns
    -------
    array, shape ``[T, ...]``
        0/1 spikes.

    Raises
    ------
    ValueError
        For an unknown ``rng``, or ``rng='hash'`` with ``2**32`` draws or more (its
        counter would repeat).

    Examples
    --------
    >>> import jax, jax.numpy as jnp, brainunit as u
    >>> from brainsim.encoding import poisson
    >>> s = poisson(jnp.array([[0., 1.]]), 4, jax.random.PRNGKey(0))
    >>> s.shape, s[:, 0, 0].tolist(), s[:, 0, 1].tolist()
    ((4, 1, 2), [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0])
    >>> poisson(jnp.ones(3), 10, jax.random.PRNGKey(1), max_rate=100 * u.Hz, dt=1 * u.ms).shape
    (10, 3)
    """
    num_steps = _check_steps(num_steps)
    if rng not in ('hash', 'threefry'):
        raise ValueError(f"poisson: rng must be 'hash' or 'threefry'; got rng={rng!r}.")
    x = _plain(x, 'poisson')
    if isinstance(max_rate, u.Quantity):
        if dt is None:
            raise ValueError(f'poisson: max_rate={max_rate} has a unit, so dt (the step duration, e.g. '
                             f'dt=1*u.ms) is required to turn it into a per-step probability.')
        scale = max_rate * dt
        if not u.get_dim(scale).is_dimensionless:
            raise ValueError(f'poisson: max_rate * dt must be dimensionless; got max_rate={max_rate}, '
                             f'dt={dt}. Use a rate (Hz) and a time step (ms).')
        scale = u.maybe_decimal(scale)
    else:
        if dt is not None:
            raise ValueError('poisson: dt is only used with a max_rate Quantity (e.g. 100*u.Hz); '
                             'with a float max_rate (probability per step) leave dt=None.')
        scale = max_rate
    p = jnp.clip(x * scale, 0., 1.)
    shape = (num_steps,) + p.shape
    if rng == 'threefry':
        u01 = jax.random.uniform(key, shape, dtype=p.dtype)
        return (u01 < p).astype(dtype)
    size = 1
    for d in shape:
        size *= d
    if size >= 2 ** 32:
        raise ValueError(f"poisson: rng='hash' draws at most 2**32 - 1 values per call; shape {shape} "
                         f"needs {size}. How to fix: pass rng='threefry', or encode in chunks with "
                         "different keys.")
    # compare in 24 bits: p * 2**24 is exact in float32, and p = 1 always spikes
    h24 = (_hash_bits(key, shape) >> 8).astype(jnp.int32)
    thr = jnp.floor(p.astype(jnp.float32) * float(1 << 24)).astype(jnp.int32)
    return (h24 < thr).astype(dtype)


def current2firing_time(x: Any, tau: float = 20., thr: float = 0.2, tmax: float = 1.0,
                        epsilon: float = 1e-7) -> jax.Array:
    r"""Time to first spike of a current-based LIF neuron driven by a constant current ``x``.

    A neuron :math:`\tau \dot v = -v + x` starting at :math:`v = 0` reaches
    the threshold :math:`\vartheta` at

    .. math::
        T(x) = \begin{cases} \tau \log\dfrac{x}{x - \vartheta}, & x > \vartheta \\
                             t_{\max}, & x \le \vartheta \text{ (never fires)} \end{cases}

    This is the latency code of Zenke's SpyTorch tutorial used by the BrainPy
    ICLR 2024 Fashion-MNIST experiment (and snnTorch's ``spikegen.latency``
    with ``linear=False``, up to its normalisation). ``x`` is clipped to
    :math:`\vartheta + \epsilon` inside the logarithm so no NaN appears
    (also in gradients).

    Parameters
    ----------
    x : array
        Input currents (e.g. pixel intensities in [0, 1]).
    tau : float, default 20
        Membrane time constant, in the unit of the returned time (use
        ``tau_mem / dt`` to get time steps).
    thr : float, default 0.2
        Threshold :math:`\vartheta`.
    tmax : float, default 1.0
        Value returned for inputs that never fire.
    epsilon : float, default 1e-7
        Clipping margin above ``thr``.

    Returns
    -------
    array, shape of ``x``

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.encoding import current2firing_time
    >>> t = current2firing_time(jnp.array([0.1, 0.4, 1.0]), tau=20., thr=0.2, tmax=100.)
    >>> [round(float(v), 3) for v in t]   # 20 log 2, 20 log 1.25
    [100.0, 13.863, 4.463]
    """
    x = _plain(x, 'current2firing_time')
    xc = jnp.clip(x, thr + epsilon, None)
    t = tau * jnp.log(xc / (xc - thr))
    return jnp.where(x <= thr, jnp.asarray(tmax, t.dtype), t)


def latency(x: Any, num_steps: int, tau: float = 20., threshold: float = 0.2,
            dtype: Any = jnp.float32) -> jax.Array:
    r"""Latency (time-to-first-spike) coding: each element spikes at most once.

    Element ``x`` spikes at step :math:`k = \lfloor T(x) \rfloor` with
    :math:`T` from :func:`current2firing_time` (``tau`` in steps), if
    :math:`k <` ``num_steps``; inputs at or below ``threshold`` never spike.
    Stronger inputs spike earlier. This reproduces the encoding of the
    BrainPy/SpyTorch Fashion-MNIST scripts (``tau_eff = tau_mem / dt``,
    integer truncation, late spikes dropped).

    Parameters
    ----------
    x : array, shape ``[...]`` (e.g. ``[B, N]``)
        Intensities, typically in [0, 1].
    num_steps : int
        Number of time steps ``T``.
    tau : float, default 20
        Membrane time constant in time steps.
    threshold : float, default 0.2
        Inputs ``<= threshold`` never spike.
    dtype : dtype, default float32
        Output dtype.

    Returns
    -------
    array, shape ``[T, ...]``
        0/1 spikes, at most one per element.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.encoding import latency
    >>> s = latency(jnp.array([0.1, 0.4, 1.0]), num_steps=20)
    >>> s.argmax(0).tolist(), s.sum(0).tolist()   # steps floor(13.86)=13, floor(4.46)=4
    ([0, 13, 4], [0.0, 1.0, 1.0])
    """
    num_steps = _check_steps(num_steps)
    t = current2firing_time(x, tau=tau, thr=threshold, tmax=float(num_steps))
    step = jnp.floor(t)
    fires = step < num_steps     # includes x <= threshold -> tmax = num_steps -> no spike
    k = jnp.arange(num_steps, dtype=step.dtype).reshape((num_steps,) + (1,) * step.ndim)
    return ((k == step) & fires).astype(dtype)


def direct(x: Any, num_steps: int) -> Any:
    """Direct current input: repeat ``x`` at every step.

    Parameters
    ----------
    x : array or Quantity, shape ``[...]``
        The input (e.g. a current in nA, or normalised pixels).
    num_steps : int
        Number of time steps ``T``.

    Returns
    -------
    array or Quantity, shape ``[T, ...]``
        ``x`` broadcast along a new leading time axis (unit kept).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.encoding import direct
    >>> direct(jnp.array([0.5, 1.0]), 3).tolist()
    [[0.5, 1.0], [0.5, 1.0], [0.5, 1.0]]
    """
    num_steps = _check_steps(num_steps)
    if isinstance(x, u.Quantity):
        unit = u.get_unit(x)
        m = jnp.asarray(x.to_decimal(unit))
        return u.Quantity(jnp.broadcast_to(m, (num_steps,) + m.shape), unit=unit)
    x = jnp.asarray(x)
    return jnp.broadcast_to(x, (num_steps,) + x.shape)
