"""Resolving the identifiers of a model: its own names, the namespace, unit names."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from ._parse import FUNCTIONS
from ._units import DIMLESS, DimensionError, dim_str, si_unit, suggest

__all__ = ["Resolved", "resolve", "to_si"]

_CONSTANTS = {"pi": math.pi, "inf": math.inf}


def to_si(x: Any, dim: Any = None) -> Any:
    """The mantissa of ``x`` in SI units (plain values pass through as arrays)."""
    if isinstance(x, u.Quantity):
        return x.to_decimal(si_unit(x.dim if dim is None else dim))
    return jnp.asarray(x) if not isinstance(x, (int, float)) else x


@dataclass
class Resolved:
    """What the identifiers outside the model stand for."""
    dims: dict[str, Any] = field(default_factory=dict)         # name -> Dimension
    consts: dict[str, Any] = field(default_factory=dict)       # name -> SI mantissa
    functions: dict[str, Callable] = field(default_factory=dict)  # name -> fn on SI arrays
    func_dims: dict[str, Callable] = field(default_factory=dict)


def _wrap_function(name: str, fn: Callable) -> tuple[Callable, Callable]:
    """A namespace function on Quantities -> (fn on SI arrays, result-dimension rule)."""
    found: dict = {}

    def result_dim(arg_dims: list, text: str) -> Any:
        args = [u.Quantity(jnp.zeros(()), unit=si_unit(DIMLESS if d is None else d))
                for d in arg_dims]
        try:
            out = jax.eval_shape(fn, *args)
        except Exception as e:
            raise DimensionError(f"Calling the namespace function {name!r} in '{text}' with "
                                 f"arguments of {[dim_str(d) for d in arg_dims]} failed: "
                                 f"{e}") from None
        found["dims"] = [DIMLESS if d is None else d for d in arg_dims]
        return u.get_dim(out)

    def on_si(*args: Any) -> Any:
        qs = [u.Quantity(a, unit=si_unit(d)) for a, d in zip(args, found["dims"])]
        return to_si(fn(*qs))

    return on_si, result_dim


def resolve(names: set[str], own: dict[str, Any], namespace: dict | None,
            where: Callable[[str], str]) -> Resolved:
    """Look up each of ``names`` that is not in ``own`` (the model's dimensions).

    Order: the model, then ``namespace``, then brainunit units (``mV``),
    then ``pi`` and ``inf``, then the built-in functions. ``where(name)``
    names the line that uses ``name``, for the message of an unknown name.
    """
    ns = dict(namespace or {})
    res = Resolved(dims=dict(own))
    for name in sorted(names):
        if name in own or name in FUNCTIONS or name == "int":
            continue
        if name in ns:
            v = ns[name]
            if callable(v) and not isinstance(v, (u.Quantity, jax.Array, np.ndarray)):
                res.functions[name], res.func_dims[name] = _wrap_function(name, v)
                continue
            if isinstance(v, u.Unit):
                v = u.Quantity(1., unit=v)
            res.dims[name] = u.get_dim(v)
            res.consts[name] = to_si(v)
            continue
        unit = getattr(u, name, None)
        if isinstance(unit, u.Unit):
            res.dims[name] = unit.dim
            res.consts[name] = float(u.Quantity(1., unit=unit).to_decimal(si_unit(unit.dim)))
            continue
        if name in _CONSTANTS:
            res.dims[name] = DIMLESS
            res.consts[name] = _CONSTANTS[name]
            continue
        known = list(own) + list(ns) + list(FUNCTIONS) + list(_CONSTANTS)
        raise ValueError(f"The identifier {name!r} in {where(name)} is not defined: it is not "
                         f"a variable of the model, not in the namespace and not a unit."
                         f"{suggest(name, known)} How to fix: define it in the model "
                         f"(e.g. '{name} : second') or pass namespace={{'{name}': ...}}.")
    return res
