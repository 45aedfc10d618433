"""A whole model checked and compiled: equations, threshold, reset, refractoriness."""
from __future__ import annotations

from typing import Any, Callable

import brainunit as u
import sympy

from ._codegen import compile_exprs, free_names
from ._namespace import Resolved, resolve
from ._parse import Equations, parse_equations, parse_expression, parse_statements
from ._stateupdate import METHODS, build_step
from ._units import DIMLESS, DimensionError, dim_of, dim_str, parse_unit

__all__ = ["CompiledModel", "SPECIAL_DIMS"]

#: Names every model may use: time, step, neuron index, population size, refractoriness.
SPECIAL_DIMS = {"t": u.second.dim, "dt": u.second.dim, "i": DIMLESS, "N": DIMLESS,
                "not_refractory": DIMLESS}


def _substitute(expr: Any, subs: dict[str, Any]) -> Any:
    """Replace subexpression names by their definitions until none is left."""
    syms = {sympy.Symbol(k, real=True): v for k, v in subs.items()}
    for _ in range(len(subs) + 1):
        if not (expr.free_symbols & set(syms)):
            return expr
        expr = expr.xreplace(syms)
    raise ValueError(f"The subexpressions {sorted(subs)} refer to each other in a cycle.")


class CompiledModel:
    """Parse, resolve, check the units of, and compile a NeuronGroup's strings.

    Attributes
    ----------
    units : dict
        Declared unit of every differential variable and parameter.
    step : callable
        ``step(values, dt) -> {var: new value}`` on SI arrays.
    threshold_parts : list of (callable, bool)
        ``(fn, is_relation)``: a relation gives ``lhs - rhs`` (scaled, to go
        through the surrogate), other parts a 0/1 condition.
    reset : list of (name, callable)
    refractory : callable or None
        The refractory condition, for a string ``refractory``.
    """

    def __init__(self, model: str, threshold: str | None, reset: str | None,
                 refractory: str | None, method: str, namespace: dict | None):
        if method not in METHODS:
            build_step(method, {}, {}, {})  # raises, naming the valid methods
        ns = dict(namespace or {})
        fnames = {k for k, v in ns.items() if callable(v) and not isinstance(v, u.Unit)
                  and not hasattr(v, "dim")}
        functions = {k: sympy.Function(k) for k in fnames}
        eqs: Equations = parse_equations(model, functions)
        self.equations = eqs
        self.units: dict[str, Any] = {}
        own: dict[str, Any] = dict(SPECIAL_DIMS)
        for e in eqs:
            unit = parse_unit(e.unit, e.text)
            own[e.name] = unit.dim
            if e.kind != "sub":
                self.units[e.name] = unit
        th = parse_expression(threshold, functions) if threshold is not None else None
        rs = parse_statements(reset, functions) if reset is not None else []
        rf = parse_expression(refractory, functions) if refractory is not None else None

        texts: list[tuple[str, Any]] = [(e.text, e.expr) for e in eqs if e.expr is not None]
        texts += [(f"the threshold '{threshold}'", th)] if th is not None else []
        texts += [(f"the reset '{reset}'", v) for _, v in rs]
        texts += [(f"the refractory condition '{refractory}'", rf)] if rf is not None else []
        used = set().union(*[free_names(x) for _, x in texts]) if texts else set()
        for name, _ in rs:
            used.add(name)

        def where(name: str) -> str:
            for text, x in texts:
                if name in free_names(x):
                    return f"'{text}'" if not text.startswith("the ") else text
            return "the model"

        self.resolved: Resolved = resolve(used, own, ns, where)
        self._check_units(eqs, th, threshold, rs, reset, rf, refractory)

        subs = {e.name: e.expr for e in eqs.of_kind("sub")}
        rhs = {e.name: _substitute(e.expr, subs) for e in eqs.of_kind("diff")}
        fn = self.resolved.functions
        self.step = build_step(method, rhs, fn, {e.name: e.text for e in eqs.of_kind("diff")}) \
            if rhs else (lambda values, dt: {})
        self.unless_refractory = [e.name for e in eqs.of_kind("diff")
                                  if "unless refractory" in e.flags]
        self.threshold_parts: list = []
        if th is not None:
            th = _substitute(th, subs)
            parts = list(th.args) if isinstance(th, sympy.And) else [th]
            reset_of = {n: _substitute(v, subs) for n, v in rs}
            for p in parts:
                if isinstance(p, (sympy.Gt, sympy.Ge, sympy.Lt, sympy.Le)):
                    hi, lo = (p.lhs, p.rhs) if isinstance(p, (sympy.Gt, sympy.Ge)) else \
                        (p.rhs, p.lhs)
                    var = hi if isinstance(hi, sympy.Symbol) else lo
                    # scale: distance from the threshold to the reset value, as the
                    # built-in neurons use (V_th - V_reset); else 1 in SI units
                    scale = sympy.Abs(p.rhs - reset_of[var.name]) \
                        if isinstance(var, sympy.Symbol) and var.name in reset_of else \
                        sympy.Integer(1)
                    self.threshold_parts.append((compile_exprs([hi - lo, scale], fn), True))
                else:
                    self.threshold_parts.append((compile_exprs([p], fn), False))
        self.reset = [(n, compile_exprs([_substitute(v, subs)], fn)) for n, v in rs]
        self.refractory = compile_exprs([_substitute(rf, subs)], fn) if rf is not None else None

    def _check_units(self, eqs, th, th_text, rs, rs_text, rf, rf_text) -> None:
        r = self.resolved
        second = u.second.dim
        for e in eqs:
            if e.expr is None:
                continue
            kind = "differential equation" if e.kind == "diff" else "subexpression"
            ctx = f"Inconsistent units in {kind} defining variable {e.name!r} ('{e.text}')"
            got = dim_of(e.expr, r.dims, r.func_dims, ctx)
            want = r.dims[e.name] / second if e.kind == "diff" else r.dims[e.name]
            if got != want and not (e.expr == 0):
                lhs = f"d{e.name}/dt" if e.kind == "diff" else e.name
                raise DimensionError(
                    f"{ctx}: the right-hand side has dimension {dim_str(got)}, but {lhs} has "
                    f"dimension {dim_str(want)}. How to fix: check the equation's terms and "
                    f"its unit (after ':').")
        if th is not None:
            ctx = f"Inconsistent units in the threshold '{th_text}'"
            dim_of(th, r.dims, r.func_dims, ctx)
            if not isinstance(th, sympy.logic.boolalg.Boolean):
                raise ValueError(f"The threshold '{th_text}' must be a condition such as "
                                 "'v > vt'.")
        for name, value in rs:
            if name not in self.units or name in SPECIAL_DIMS:
                raise ValueError(f"The reset '{rs_text}' assigns to {name!r}, which is not a "
                                 f"variable of the model; variables: {sorted(self.units)}.")
            ctx = f"Inconsistent units in the reset statement for {name!r} ('{rs_text}')"
            got = dim_of(value, r.dims, r.func_dims, ctx)
            if got != r.dims[name] and value != 0:
                raise DimensionError(f"{ctx}: the value has dimension {dim_str(got)}, but "
                                     f"{name!r} has dimension {dim_str(r.dims[name])}.")
        if rf is not None:
            dim_of(rf, r.dims, r.func_dims,
                   f"Inconsistent units in the refractory condition '{rf_text}'")

    def threshold(self, values: dict, spk_fun: Callable) -> Any:
        """The spikes (float 0/1) for ``values``; relations go through ``spk_fun``."""
        out = None
        for fn, is_rel in self.threshold_parts:
            if is_rel:
                d, scale = fn(values)
                s = spk_fun(d / scale)
            else:
                s = fn(values)[0].astype(float)
            out = s if out is None else out * s
        return out
