"""Unit bookkeeping shared by every integrator.

Each stepper works on plain arrays ("mantissas"). This module strips the
brainunit units from the state, the time and the step on the way in, wraps
the user's derivative so it sees (and must return) proper Quantities, and
puts the units back on the way out. All unit checks run at trace time, so a
jitted simulation pays nothing for them.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import brainunit as u
import jax
import jax.numpy as jnp

from .._errors import UnitMismatchError

__all__ = ['MantissaProblem', 'to_mantissa_problem']


def _is_quantity(x: Any) -> bool:
    return isinstance(x, u.Quantity)


class _LeafSpec(NamedTuple):
    unit: Any            # brainunit Unit of the state leaf ("1" for plain arrays)
    was_quantity: bool   # give a Quantity back even when it is dimensionless


def _split(x: Any) -> tuple[jax.Array, _LeafSpec]:
    if _is_quantity(x):
        unit = u.get_unit(x)
        return _as_float(x.to_decimal(unit)), _LeafSpec(unit, True)
    return _as_float(x), _LeafSpec(u.get_unit(1.0), False)


def _as_float(x: Any) -> jax.Array:
    x = jnp.asarray(x)
    # integer states would silently truncate every update
    return x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.result_type(float))


def _join(m: jax.Array, spec: _LeafSpec) -> Any:
    if spec.was_quantity:
        return u.Quantity(m, unit=spec.unit)
    return m


def _fmt_unit(unit) -> str:
    s = str(unit)
    return 'dimensionless' if s == '1' else s


class MantissaProblem(NamedTuple):
    """The ODE expressed on unitless arrays: ``dym/dtm = fm(ym, tm)``."""
    fm: Callable[[list, jax.Array], list]   # derivative on mantissa lists
    ym: list                                # state mantissas, one per leaf
    tm: jax.Array                           # time mantissa (in the unit of t)
    dtm: jax.Array                          # step mantissa (in the unit of t)
    restore: Callable[[list], Any]          # mantissa list -> state pytree


def to_mantissa_problem(f: Callable, y: Any, t: Any, dt: Any, args: tuple) -> MantissaProblem:
    """Strip units from ``(f, y, t, dt)`` and check them.

    Raises
    ------
    ValueError
        When ``t`` and ``dt`` have different dimensions, or when ``f`` returns
        a derivative whose unit is not ``unit(y) / unit(t)`` for some variable
        (the message names the variable).
    TypeError
        When ``f`` returns a pytree with a different structure than ``y``.
    """
    if not callable(f):
        raise TypeError(f'f must be a callable f(y, t, *args) -> dy/dt; got {type(f).__name__} {f!r}.')
    t_unit = u.get_unit(t)
    dt_unit = u.get_unit(dt)
    if t_unit.dim != dt_unit.dim:
        raise ValueError(
            f'dt must have the same dimension as t: got t in {_fmt_unit(t_unit)} and dt in '
            f'{_fmt_unit(dt_unit)}. Pass both as times, e.g. t=0.*u.ms, dt=0.1*u.ms.')
    tm = jnp.asarray(t.to_decimal(t_unit)) if _is_quantity(t) else jnp.asarray(t)
    dtm = jnp.asarray(dt.to_decimal(t_unit)) if _is_quantity(dt) else jnp.asarray(dt)

    leaves_with_path, treedef = jax.tree_util.tree_flatten_with_path(y, is_leaf=_is_quantity)
    if not leaves_with_path:
        raise ValueError('y must contain at least one state variable; got an empty pytree.')
    names = [jax.tree_util.keystr(p) or 'y' for p, _ in leaves_with_path]
    split = [_split(leaf) for _, leaf in leaves_with_path]
    ym = [m for m, _ in split]
    specs = [s for _, s in split]
    deriv_units = [s.unit / t_unit for s in specs]

    def restore(ms: list) -> Any:
        return jax.tree_util.tree_unflatten(treedef, [_join(m, s) for m, s in zip(ms, specs)])

    def fm(ms: list, tcur: jax.Array) -> list:
        y_q = restore(ms)
        t_q = u.Quantity(tcur, unit=t_unit) if _is_quantity(t) else tcur
        dy = f(y_q, t_q, *args)
        dy_leaves, dy_tree = jax.tree_util.tree_flatten(dy, is_leaf=_is_quantity)
        if dy_tree != treedef:
            raise TypeError(
                f'f must return dy/dt with the same structure as y; y has structure {treedef} '
                f'but f returned {dy_tree}.')
        out = []
        for name, leaf, expected, m in zip(names, dy_leaves, deriv_units, ms):
            got = u.get_unit(leaf)
            if got.dim != expected.dim:
                raise UnitMismatchError(
                    f'Unit mismatch in the derivative of {name}: dy/dt must have unit '
                    f'{_fmt_unit(expected)} (unit of y / unit of t) but f returned '
                    f'{_fmt_unit(got)}. Check the equation for {name}, or pass t and dt as times '
                    f'(e.g. dt=0.1*u.ms) when the state carries units.')
            val = jnp.asarray(leaf.to_decimal(expected) if _is_quantity(leaf) else leaf,
                              dtype=jnp.result_type(m))
            if val.shape != m.shape:
                try:
                    val = jnp.broadcast_to(val, m.shape)
                except ValueError:
                    raise ValueError(
                        f'Shape mismatch in the derivative of {name}: the state has shape '
                        f'{m.shape} but f returned dy/dt with shape {val.shape}.') from None
            out.append(val)
        return out

    return MantissaProblem(fm, ym, tm, dtm, restore)
