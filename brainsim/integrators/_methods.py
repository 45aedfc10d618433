"""One-step ODE integration methods.

Every public stepper has the signature ``step(f, y, t, dt, *args) -> y_next``
where ``f(y, t, *args)`` returns ``dy/dt`` with the same pytree structure as
``y``. The private ``_*_core`` functions work on lists of unitless arrays
(see :mod:`._units`); the public wrappers add unit handling.
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
from jax.scipy.linalg import expm

from .._math import exprel
from ._units import MantissaProblem, to_mantissa_problem

__all__ = ['euler', 'rk2', 'heun', 'rk4', 'exp_euler', 'exact']


def _axpy(ym: list, a, ks: list) -> list:
    return [y + a * k for y, k in zip(ym, ks)]


def _euler_core(p: MantissaProblem) -> list:
    return _axpy(p.ym, p.dtm, p.fm(p.ym, p.tm))


def _rk2_core(p: MantissaProblem) -> list:
    k1 = p.fm(p.ym, p.tm)
    k2 = p.fm(_axpy(p.ym, 0.5 * p.dtm, k1), p.tm + 0.5 * p.dtm)
    return _axpy(p.ym, p.dtm, k2)


def _heun_core(p: MantissaProblem) -> list:
    k1 = p.fm(p.ym, p.tm)
    k2 = p.fm(_axpy(p.ym, p.dtm, k1), p.tm + p.dtm)
    return [y + 0.5 * p.dtm * (a + b) for y, a, b in zip(p.ym, k1, k2)]


def _rk4_core(p: MantissaProblem) -> list:
    h = p.dtm
    k1 = p.fm(p.ym, p.tm)
    k2 = p.fm(_axpy(p.ym, 0.5 * h, k1), p.tm + 0.5 * h)
    k3 = p.fm(_axpy(p.ym, 0.5 * h, k2), p.tm + 0.5 * h)
    k4 = p.fm(_axpy(p.ym, h, k3), p.tm + h)
    return [y + (h / 6.) * (a + 2. * b + 2. * c + d) for y, a, b, c, d in zip(p.ym, k1, k2, k3, k4)]


def _unit_tangents(ym: list, k: int) -> list:
    return [jnp.ones_like(m) if i == k else jnp.zeros_like(m) for i, m in enumerate(ym)]


def _exp_euler_core(p: MantissaProblem) -> list:
    fy, lin = jax.linearize(lambda ms: p.fm(ms, p.tm), p.ym)
    out = []
    for k, (y, fk) in enumerate(zip(p.ym, fy)):
        # a ones tangent on variable k alone gives the diagonal of df_k/dy_k
        # for elementwise systems; other variables are frozen (not coupled)
        a = lin(_unit_tangents(p.ym, k))[k]
        out.append(y + p.dtm * exprel(a * p.dtm) * fk)
    return out


def _exact_core(p: MantissaProblem) -> list:
    n = len(p.ym)
    if n == 1:
        return _exp_euler_core(p)   # closed form: exact for dy/dt = a*y + b
    shapes = {m.shape for m in p.ym}
    if len(shapes) != 1:
        raise ValueError(
            f"method='exact' couples the state variables element by element, so all of them must "
            f"have the same shape; got shapes {sorted(shapes)}. Broadcast the states to one shape.")
    shape = p.ym[0].shape
    fy, lin = jax.linearize(lambda ms: p.fm(ms, p.tm), p.ym)
    cols = [lin(_unit_tangents(p.ym, b)) for b in range(n)]   # cols[b][a] = df_a/dy_b
    # Augmented matrix [[J dt, f dt], [0, 0]]: its exponential's last column
    # holds phi1(J dt) f dt, the exact increment of an affine system, and it
    # needs no inverse of J (which may be singular).
    dtype = jnp.result_type(*p.ym)
    aug = jnp.zeros(shape + (n + 1, n + 1), dtype=dtype)
    for a in range(n):
        for b in range(n):
            aug = aug.at[..., a, b].set(cols[b][a] * p.dtm)
        aug = aug.at[..., a, n].set(fy[a] * p.dtm)
    e = expm(aug)
    return [y + e[..., a, n] for a, y in enumerate(p.ym)]


def _make_stepper(core: Callable[[MantissaProblem], list], name: str, doc: str) -> Callable:
    def step(f: Callable, y: Any, t: Any, dt: Any, *args: Any) -> Any:
        p = to_mantissa_problem(f, y, t, dt, args)
        return p.restore(core(p))

    step.__name__ = step.__qualname__ = name
    step.__module__ = 'brainsim.integrators'
    step.__doc__ = doc
    return step


_COMMON = """
    Parameters
    ----------
    f : callable
        ``f(y, t, *args) -> dy/dt``; returns a pytree with the structure of
        ``y`` whose leaves have unit ``unit(y) / unit(t)``.
    y : pytree of arrays or brainunit Quantities
        The state at time ``t`` (any shapes; e.g. ``V`` in mV of shape ``[N]``).
    t : float, array or Quantity
        The current time (e.g. ``0. * u.ms``).
    dt : float, array or Quantity
        The step, with the dimension of ``t``.
    *args
        Passed on to ``f`` unchanged (e.g. input currents).

    Returns
    -------
    pytree
        The state at ``t + dt``, same structure, shapes and units as ``y``.

    Raises
    ------
    ValueError
        When ``f`` returns a derivative with the wrong unit (naming the
        variable, the unit got and the unit expected) or ``t``/``dt`` disagree.
"""

euler = _make_stepper(_euler_core, 'euler', r"""Forward Euler step (order 1).

    .. math:: y_{n+1} = y_n + \Delta t\, f(y_n, t_n)
""" + _COMMON + """
    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import integrators
    >>> v = integrators.euler(lambda v, t: -v / (10. * u.ms), 1. * u.mV, 0. * u.ms, 1. * u.ms)
    >>> v.unit == u.mV, round(float(v.to_decimal(u.mV)), 6)
    (True, 0.9)
""")

rk2 = _make_stepper(_rk2_core, 'rk2', r"""Explicit midpoint Runge-Kutta step (order 2).

    This is the midpoint rule (as in Brian2's ``rk2``); see :func:`heun` for
    the trapezoidal variant.

    .. math::
        k_1 = f(y_n, t_n), \quad
        k_2 = f(y_n + \tfrac{\Delta t}{2} k_1, t_n + \tfrac{\Delta t}{2}), \quad
        y_{n+1} = y_n + \Delta t\, k_2
""" + _COMMON + """
    Examples
    --------
    >>> from brainsim import integrators
    >>> round(float(integrators.rk2(lambda y, t: -y, 1.0, 0.0, 0.1)), 6)  # 1 - h + h^2/2
    0.905
""")

heun = _make_stepper(_heun_core, 'heun', r"""Heun's (explicit trapezoidal) Runge-Kutta step (order 2).

    .. math::
        k_1 = f(y_n, t_n), \quad k_2 = f(y_n + \Delta t\, k_1, t_n + \Delta t), \quad
        y_{n+1} = y_n + \tfrac{\Delta t}{2} (k_1 + k_2)
""" + _COMMON + """
    Examples
    --------
    >>> from brainsim import integrators
    >>> round(float(integrators.heun(lambda y, t: -y, 1.0, 0.0, 0.1)), 6)
    0.905
""")

rk4 = _make_stepper(_rk4_core, 'rk4', r"""Classical fourth-order Runge-Kutta step.

    .. math::
        k_1 &= f(y_n, t_n), \quad k_2 = f(y_n + \tfrac{\Delta t}{2} k_1, t_n + \tfrac{\Delta t}{2}),\\
        k_3 &= f(y_n + \tfrac{\Delta t}{2} k_2, t_n + \tfrac{\Delta t}{2}), \quad
        k_4 = f(y_n + \Delta t\, k_3, t_n + \Delta t),\\
        y_{n+1} &= y_n + \tfrac{\Delta t}{6} (k_1 + 2 k_2 + 2 k_3 + k_4)
""" + _COMMON + """
    Examples
    --------
    >>> from brainsim import integrators
    >>> round(float(integrators.rk4(lambda y, t: -y, 1.0, 0.0, 0.1)), 6)  # exp(-0.1)
    0.904837
""")

exp_euler = _make_stepper(_exp_euler_core, 'exp_euler', r"""Exponential Euler step.

    Each variable is integrated with its own linearisation at the current
    point, with the other variables frozen at their current values:

    .. math::
        A = \frac{\partial f}{\partial y}\Big|_{y_n}\ \text{(elementwise diagonal)}, \qquad
        y_{n+1} = y_n + \frac{e^{A \Delta t} - 1}{A}\, f(y_n, t_n)

    and :math:`y_{n+1} = y_n + \Delta t\, f(y_n, t_n)` where :math:`A = 0`.
    ``A`` (unit 1/time) comes from ``jax.linearize`` of ``f`` with a ones
    tangent, which is the diagonal when each element of a variable depends
    only on itself (a population of independent neurons). It is exact for
    elementwise linear ODEs :math:`\dot y = a y + b` with ``a, b`` constant
    over the step, and first order in general. This is what BrainPy and
    brainstate call exponential Euler.
""" + _COMMON + """
    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import integrators
    >>> v = integrators.exp_euler(lambda v, t: -v / (10. * u.ms), 1. * u.mV, 0. * u.ms, 10. * u.ms)
    >>> round(float(v.to_decimal(u.mV)), 6)  # exp(-1)
    0.367879
""")

exact = _make_stepper(_exact_core, 'exact', r"""Exact step for affine systems :math:`\dot y = J y + b`.

    Contract: ``f`` must be affine in ``y`` with ``J`` and ``b`` constant over
    the step (they may depend on ``args`` and on ``t`` only through values that
    do not change within the step). The step linearises ``f`` once at ``y_n``
    (recovering ``J`` exactly for such an ``f``) and applies

    .. math::
        y_{n+1} = y_n + \varphi_1(J \Delta t)\, \Delta t\, f(y_n), \qquad
        \varphi_1(Z) = Z^{-1}(e^{Z} - I),

    computed without inverting ``J`` as the last column of
    :math:`\exp\begin{pmatrix} J\Delta t & f\Delta t \\ 0 & 0\end{pmatrix}`
    (``jax.scipy.linalg.expm``). Separate state variables (pytree leaves) may
    be coupled; the elements within a variable must be independent (one small
    ``k x k`` system per element, ``k`` = number of variables, all of one
    shape). With one variable this is the closed form of :func:`exp_euler`.
    For a non-affine ``f`` it is the exponential Rosenbrock-Euler method
    (order 2 for autonomous systems). For an explicit matrix system use
    :func:`exact_linear_step`.
""" + _COMMON + """
    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from brainsim import integrators
    >>> f = lambda s, t: {'x': s['v'], 'v': -s['x']}      # harmonic oscillator
    >>> s = integrators.exact(f, {'x': 1.0, 'v': 0.0}, 0.0, jnp.pi / 2)
    >>> round(float(s['x']), 5), round(float(s['v']), 5)   # (cos, -sin) at pi/2
    (0.0, -1.0)
""")
