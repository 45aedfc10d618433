"""sympy expressions -> JAX functions on unitless (SI) arrays."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import jax.numpy as jnp
import sympy

from .._math import exprel

__all__ = ["compile_exprs", "free_names"]


_JAX_FUNCS = {"clip": jnp.clip, "exprel": exprel}


def free_names(expr: Any) -> set[str]:
    """Names of the free symbols and of the called undefined functions of ``expr``."""
    names = {s.name for s in expr.free_symbols}
    names |= {type(f).__name__ for f in expr.atoms(sympy.Function)
              if isinstance(f, sympy.core.function.AppliedUndef)}
    return names


def compile_exprs(exprs: Sequence[Any], functions: dict[str, Callable] | None = None
                  ) -> Callable[[dict], list]:
    """Compile sympy ``exprs`` into ``fn(values) -> [array, ...]``.

    ``values`` maps each free symbol's name to an array (all in SI units, so
    no conversion factors appear); ``functions`` maps the names of called
    namespace functions to JAX callables on such arrays.

    Examples
    --------
    >>> import sympy
    >>> from brainsim.equations._codegen import compile_exprs
    >>> x, y = sympy.symbols('x y')
    >>> fn = compile_exprs([x * sympy.exp(y)])
    >>> float(fn({'x': 2., 'y': 0.})[0])
    2.0
    """
    exprs = [sympy.sympify(e) for e in exprs]
    syms = sorted(set().union(*[e.free_symbols for e in exprs]) if exprs else set(),
                  key=lambda s: s.name)
    modules = [{**_JAX_FUNCS, **(functions or {})}, "jax"]
    fn = sympy.lambdify(syms, exprs, modules=modules, dummify=True)
    names = [s.name for s in syms]

    def run(values: dict) -> list:
        out = fn(*[values[n] for n in names])
        return [jnp.asarray(o) for o in out]

    return run
