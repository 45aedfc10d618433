"""Method lookup, multi-step integration and the explicit linear step."""
from __future__ import annotations

import difflib
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
from jax.scipy.linalg import expm

from ._methods import euler, exact, exp_euler, heun, rk2, rk4
from ._units import _fmt_unit

__all__ = ['METHODS', 'get', 'integrate', 'exact_linear_step']

#: Name -> stepper ``step(f, y, t, dt, *args) -> y_next``.
METHODS: dict[str, Callable] = {
    'euler': euler,
    'rk2': rk2,
    'heun': heun,
    'rk4': rk4,
    'exp_euler': exp_euler,
    'exact': exact,
}


def get(method: str | Callable) -> Callable:
    """Return the stepper for ``method``.

    Parameters
    ----------
    method : str or callable
        One of ``'euler', 'rk2', 'heun', 'rk4', 'exp_euler', 'exact'``
        (case-insensitive), or a callable with the stepper signature, which
        is returned unchanged (so models can accept either).

    Returns
    -------
    callable
        ``step(f, y, t, dt, *args) -> y_next``.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names and suggests
        the closest one.

    Examples
    --------
    >>> from brainsim import integrators
    >>> integrators.get('rk4') is integrators.rk4
    True
    """
    if callable(method):
        return method
    if not isinstance(method, str):
        raise TypeError(f'method must be a method name (str) or a stepper callable; got '
                        f'{type(method).__name__} {method!r}.')
    key = method.strip().lower()
    if key in METHODS:
        return METHODS[key]
    close = difflib.get_close_matches(key, list(METHODS), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ''
    raise ValueError(f'Unknown integration method {method!r}. Valid methods: '
                     f'{", ".join(repr(m) for m in METHODS)}.{hint}')


def integrate(f: Callable, y0: Any, t0: Any, dt: Any, num_steps: int, *args: Any,
              method: str | Callable = 'rk4', return_trajectory: bool = False) -> Any:
    r"""Integrate ``dy/dt = f(y, t, *args)`` for ``num_steps`` fixed steps.

    Runs a ``jax.lax.scan``, so it is jit/vmap/grad friendly. The time of step
    ``i`` is computed as ``t0 + i * dt`` (no accumulated rounding).

    Parameters
    ----------
    f : callable
        ``f(y, t, *args) -> dy/dt`` (see :func:`euler`).
    y0 : pytree
        Initial state at ``t0``.
    t0, dt : float or Quantity
        Start time and step (same dimension).
    num_steps : int
        Number of steps (a Python int).
    *args
        Passed to ``f`` at every step (held constant).
    method : str or callable
        Integration method name or stepper (default ``'rk4'``).
    return_trajectory : bool
        Also return the states after every step, stacked on a new leading
        axis of length ``num_steps``.

    Returns
    -------
    pytree or (pytree, pytree)
        The state at ``t0 + num_steps * dt`` (and the trajectory).

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import integrators
    >>> v = integrators.integrate(lambda v, t: -v / (10. * u.ms), 1. * u.mV, 0. * u.ms,
    ...                           0.1 * u.ms, 100)
    >>> round(float(v.to_decimal(u.mV)), 5)   # exp(-1)
    0.36788
    """
    step = get(method)
    if not isinstance(num_steps, int) or isinstance(num_steps, bool) or num_steps < 0:
        raise ValueError(f'num_steps must be a non-negative Python int; got {num_steps!r}.')

    def body(y, i):
        y_next = step(f, y, t0 + i * dt, dt, *args)
        return y_next, (y_next if return_trajectory else None)

    y_final, traj = jax.lax.scan(body, y0, jnp.arange(num_steps))
    return (y_final, traj) if return_trajectory else y_final


def exact_linear_step(A: Any, b: Any, y: Any, dt: Any) -> Any:
    r"""Exact step of the explicit linear system :math:`\dot y = A y + b`.

    .. math::
        y(t + \Delta t) = e^{A\Delta t} y + \varphi_1(A \Delta t)\, b\, \Delta t,

    evaluated as the exponential of the augmented matrix
    :math:`\begin{pmatrix} A\Delta t & A y\Delta t + b\Delta t\\ 0 & 0\end{pmatrix}`
    (no inverse of ``A`` needed).

    Parameters
    ----------
    A : array or Quantity, shape ``[..., n, n]``
        Constant system matrix, unit 1/time (or unitless when ``dt`` is).
    b : array or Quantity, shape ``[..., n]``
        Constant drive, unit ``unit(y) / unit(dt)``.
    y : array or Quantity, shape ``[..., n]``
        State vector(s).
    dt : float or Quantity
        Step.

    Returns
    -------
    array or Quantity, shape of ``y``
        ``y`` after one step of ``dt``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim.integrators import exact_linear_step
    >>> A = jnp.array([[0., 1.], [-1., 0.]])                 # x'' = -x
    >>> y = exact_linear_step(A, jnp.zeros(2), jnp.array([1., 0.]), jnp.pi)
    >>> [round(float(v), 5) for v in y]
    [-1.0, 0.0]
    """
    adt = A * dt
    if isinstance(adt, u.Quantity) and not u.get_unit(adt).is_unitless:
        if not u.get_dim(adt).is_dimensionless:
            raise ValueError(f'A * dt must be dimensionless: A must have unit 1/(unit of dt); got '
                             f'A * dt in {_fmt_unit(u.get_unit(adt))}.')
    adt = jnp.asarray(u.maybe_decimal(adt) if isinstance(adt, u.Quantity) else adt)
    y_unit = u.get_unit(y)
    bdt = b * dt
    if u.get_dim(bdt) != y_unit.dim:
        raise ValueError(f'b * dt must have the unit of y ({_fmt_unit(y_unit)}); got '
                         f'{_fmt_unit(u.get_unit(bdt))}. b must have unit (unit of y) / (unit of dt).')
    bdt = jnp.asarray(bdt.to_decimal(y_unit) if isinstance(bdt, u.Quantity) else bdt)
    ym = jnp.asarray(y.to_decimal(y_unit) if isinstance(y, u.Quantity) else y)
    n = ym.shape[-1]
    if adt.shape[-2:] != (n, n):
        raise ValueError(f'A must have shape [..., {n}, {n}] to match y of shape {ym.shape}; '
                         f'got {adt.shape}.')
    batch = jnp.broadcast_shapes(adt.shape[:-2], ym.shape[:-1], jnp.shape(bdt)[:-1])
    dtype = jnp.result_type(adt, ym, bdt, float)
    aug = jnp.zeros(batch + (n + 1, n + 1), dtype=dtype)
    aug = aug.at[..., :n, :n].set(jnp.broadcast_to(adt, batch + (n, n)))
    rhs = jnp.einsum('...ij,...j->...i', adt, ym) + bdt
    aug = aug.at[..., :n, n].set(jnp.broadcast_to(rhs, batch + (n,)))
    y_next = ym + expm(aug)[..., :n, n]
    return u.Quantity(y_next, unit=y_unit) if isinstance(y, u.Quantity) else y_next
