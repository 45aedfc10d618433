"""Units of model strings: reading unit names and checking dimensions of sympy expressions."""
from __future__ import annotations

import ast
import difflib
import re
from typing import Any, Callable

import brainunit as u
import sympy

from .._errors import UnitMismatchError
from ._parse import clip, exprel

__all__ = ["parse_unit", "dim_of", "dim_str", "si_unit", "suggest", "DimensionError"]

DIMLESS = u.DIMENSIONLESS


class DimensionError(UnitMismatchError):
    """A model expression whose terms differ in dimension."""
    __module__ = "brainsim.equations"


def dim_str(d: Any) -> str:
    """``m^2 kg s^-3 A^-1``: the dimension's name, with integral exponents written as integers.

    brainunit keeps one Dimension object per exponent vector, and its name is written from the
    exponents it was first created with: ``s^-4.0`` once anything made it from float exponents,
    so without this the same message would read differently after other code ran.
    """
    s = re.sub(r"\^(-?\d+)\.0\b", r"^\1", str(d))
    return "dimensionless" if s in ("1", "") else s


def si_unit(dim: Any) -> Any:
    """The SI unit (scale 1) of dimension ``dim``."""
    return u.Unit(dim)


def suggest(name: str, candidates: list[str]) -> str:
    """A ``" Did you mean 'x'?"`` hint, or ``""``."""
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def parse_unit(text: str, where: str) -> Any:
    """``'siemens/meter**2'`` -> a brainunit Unit (``'1'`` is dimensionless)."""
    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.Name):
            unit = getattr(u, node.id, None)
            if not isinstance(unit, u.Unit):
                names = [n for n in dir(u) if isinstance(getattr(u, n, None), u.Unit)]
                raise ValueError(f"Unknown unit {node.id!r} in {where!r}."
                                 f"{suggest(node.id, names)}")
            return unit
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div, ast.Pow)):
            a, b = ev(node.left), ev(node.right)
            return a * b if isinstance(node.op, ast.Mult) else a / b if \
                isinstance(node.op, ast.Div) else a ** b
        raise ValueError(f"Cannot read the unit {text!r} in {where!r}: write unit names "
                         "combined with *, / and **, e.g. 'siemens/meter**2', or '1'.")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        raise ValueError(f"Cannot read the unit {text!r} in {where!r}.") from None
    unit = ev(tree)
    if isinstance(unit, (int, float)):
        if unit != 1:
            raise ValueError(f"The unit {text!r} in {where!r} is a number; write '1' for a "
                             "dimensionless variable.")
        return u.Unit(DIMLESS)
    return unit


_DIMLESS_FUNCS = (sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.sinh,
                  sympy.cosh, sympy.tanh, sympy.asin, sympy.acos, sympy.atan, exprel)
_SAME_FUNCS = (sympy.Abs, sympy.floor, sympy.ceiling)


class _Checker:
    """Dimension of a sympy expression; ``None`` stands for 0, which fits every dimension."""

    def __init__(self, dims: dict[str, Any], func_dims: dict[str, Callable], context: str):
        self.dims, self.func_dims, self.context = dims, func_dims, context

    def mismatch(self, expr: Any, parts: list) -> DimensionError:
        shown = ", ".join(f"'{p}' has {dim_str(d)}" for p, d in parts)
        return DimensionError(f"{self.context}: the terms of '{expr}' differ in dimension "
                              f"({shown}).")

    def same(self, expr: Any, args: tuple) -> Any:
        found, parts = None, []
        for a in args:
            d = self(a)
            parts.append((a, d))
            if d is None:
                continue
            if found is None:
                found = d
            elif d != found:
                raise self.mismatch(expr, [(p, q) for p, q in parts if q is not None])
        return found

    def __call__(self, e: Any) -> Any:
        if isinstance(e, sympy.Symbol):
            return self.dims[e.name]
        if e.is_Number:
            return None if e == 0 else DIMLESS
        if isinstance(e, (sympy.logic.boolalg.BooleanAtom,)):
            return DIMLESS
        if isinstance(e, sympy.Add):
            return self.same(e, e.args)
        if isinstance(e, sympy.Mul):
            d = DIMLESS
            for a in e.args:
                da = self(a)
                if da is None:
                    return None
                d = d * da
            return d
        if isinstance(e, sympy.Pow):
            base, ex = self(e.args[0]), self(e.args[1])
            if ex not in (None, DIMLESS):
                raise DimensionError(f"{self.context}: the exponent in '{e}' must be "
                                     f"dimensionless, got {dim_str(ex)}.")
            if base in (None, DIMLESS):
                return base
            if not e.args[1].is_Number:
                raise DimensionError(f"{self.context}: '{e}' raises a quantity of "
                                     f"{dim_str(base)} to a non-constant power.")
            return base ** float(e.args[1])
        if isinstance(e, sympy.core.relational.Relational):
            self.same(e, e.args)
            return DIMLESS
        if isinstance(e, sympy.Piecewise):
            for _, cond in e.args:
                self(cond)
            return self.same(e, tuple(v for v, _ in e.args))
        if isinstance(e, (sympy.And, sympy.Or, sympy.Not)):
            for a in e.args:
                self(a)
            return DIMLESS
        if isinstance(e, _DIMLESS_FUNCS):
            for a in e.args:
                d = self(a)
                if d not in (None, DIMLESS):
                    raise DimensionError(f"{self.context}: the argument of '{e}' must be "
                                         f"dimensionless, got {dim_str(d)}.")
            return DIMLESS
        if isinstance(e, sympy.sign):
            self(e.args[0])
            return DIMLESS
        if isinstance(e, _SAME_FUNCS):
            return self(e.args[0])
        if isinstance(e, (clip, sympy.Min, sympy.Max, sympy.Mod)):
            return self.same(e, e.args)
        if isinstance(e, sympy.Function) and type(e).__name__ in self.func_dims:
            return self.func_dims[type(e).__name__]([self(a) for a in e.args], str(e))
        raise DimensionError(f"{self.context}: cannot find the dimension of '{e}'.")


def dim_of(expr: Any, dims: dict[str, Any], func_dims: dict[str, Callable] | None = None,
           context: str = "In the model") -> Any:
    """The dimension of ``expr`` (``DIMENSIONLESS`` for a bare 0).

    ``dims`` maps every free symbol's name to its brainunit ``Dimension``;
    ``func_dims[name](arg_dims, text)`` gives the dimension of a namespace
    function's result. Raises :class:`DimensionError` naming ``context``.
    """
    d = _Checker(dims, func_dims or {}, context)(expr)
    return DIMLESS if d is None else d
