"""The spike primitive and the base class of surrogate-gradient functions."""
from __future__ import annotations

import numbers
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

__all__ = ['Surrogate', 'heaviside']


@jax.custom_jvp
def _spike(x: jax.Array, dx: jax.Array) -> jax.Array:
    # strict inequality: x == 0 gives no spike
    return jnp.where(x > 0, jnp.ones_like(x), jnp.zeros_like(x))


@_spike.defjvp
def _spike_jvp(primals, tangents):
    # The surrogate derivative dx is an ordinary (differentiable) input, so a
    # second derivative of the spike is the derivative of the surrogate.
    x, dx = primals
    tx, _ = tangents
    return _spike(x, dx), dx * tx


def _as_float_dimensionless(x: Any, who: str) -> jax.Array:
    if isinstance(x, u.Quantity):
        if not u.get_dim(x).is_dimensionless:
            raise ValueError(
                f'{who} got x with unit {u.get_unit(x)}; surrogate spike functions need a '
                f'dimensionless input. Pass (V - V_th) / (V_th - V_reset) or another '
                f'dimensionless quantity.')
        x = u.maybe_decimal(x)   # folds a scale such as mV/V into the number
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        # gradients only flow through floats; bool/int inputs get the default float
        x = x.astype(jnp.result_type(float))
    return x


def _check_positive(owner: str, **params: Any) -> None:
    for name, value in params.items():
        if isinstance(value, numbers.Real) and not value > 0:
            raise ValueError(f'{owner}: {name} must be > 0; got {name}={value!r}.')


class Surrogate:
    r"""Base class: Heaviside forward pass with a smooth surrogate derivative.

    Calling an instance returns

    .. math:: H(x) = \begin{cases} 1, & x > 0 \\ 0, & x \le 0 \end{cases}

    in the floating dtype of ``x`` (so ``x == 0`` gives 0), while every
    derivative (``jax.grad``, ``jax.jvp``, ``jax.jacfwd``, ...) uses
    :meth:`surrogate_grad` in place of the Dirac delta. It is built on
    ``jax.custom_jvp`` so it composes with jit, vmap, forward and reverse mode
    and higher-order derivatives (the second derivative is the derivative of
    the surrogate).

    Subclasses implement :meth:`surrogate_grad` and list their
    hyper-parameters in ``_params``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import surrogate
    >>> class Box(surrogate.Surrogate):
    ...     _params = ('width',)
    ...     def __init__(self, width=1.0):
    ...         self.width = width
    ...     def surrogate_grad(self, x):
    ...         return (jnp.abs(x) < self.width / 2) / self.width
    >>> Box()(jnp.array([-1., 0., 2.]))
    Array([0., 0., 1.], dtype=float32)
    """

    _params: tuple[str, ...] = ()

    def __call__(self, x: Any) -> jax.Array:
        x = _as_float_dimensionless(x, f'{type(self).__name__} surrogate function')
        dx = jnp.asarray(self.surrogate_grad(x), dtype=x.dtype)
        return _spike(x, dx)

    def surrogate_grad(self, x: jax.Array) -> jax.Array:
        """The surrogate of :math:`dH/dx` at ``x`` (same shape as ``x``)."""
        raise TypeError(f'{type(self).__name__} must implement surrogate_grad(x).')

    def __repr__(self) -> str:
        args = ', '.join(f'{p}={getattr(self, p)!r}' for p in self._params)
        return f'{type(self).__name__}({args})'


Surrogate.__module__ = 'brainsim.surrogate'


def heaviside(x: Any) -> jax.Array:
    r"""The exact Heaviside step, :math:`H(x) = 1` for ``x > 0`` else 0, in ``x``'s float dtype.

    Its derivative is zero everywhere (no surrogate); use a
    :class:`Surrogate` when gradients must pass through spikes.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.surrogate import heaviside
    >>> heaviside(jnp.array([-1., 0., 0.5]))
    Array([0., 0., 1.], dtype=float32)
    """
    x = jax.lax.stop_gradient(_as_float_dimensionless(x, 'heaviside'))
    return jnp.where(x > 0, jnp.ones_like(x), jnp.zeros_like(x))
