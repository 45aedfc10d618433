"""Brian-style model equations: parsing (sympy), unit checking and code generation to JAX.

The modules keep one concern each:

- :mod:`._parse`: model strings, conditions and statements -> sympy;
- :mod:`._units`: unit names and the dimension of sympy expressions;
- :mod:`._namespace`: what the names a model does not define stand for;
- :mod:`._codegen`: sympy -> JAX functions on SI arrays;
- :mod:`._stateupdate`: the integration methods, derived symbolically where they can be;
- :mod:`._model`: all of it put together for a :class:`brainsim.NeuronGroup`.
"""
from ._parse import Equation, Equations, parse_equations, parse_expression, parse_statements
from ._stateupdate import METHODS
from ._units import DimensionError

__all__ = ["Equation", "Equations", "parse_equations", "parse_expression", "parse_statements",
           "METHODS", "DimensionError"]
