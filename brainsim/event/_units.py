"""Unit handling at the operator boundary: strip to mantissas, compute, re-wrap."""
from __future__ import annotations

import brainunit as u
import jax.numpy as jnp

__all__ = ["split_unit", "wrap_unit", "is_traced"]


def split_unit(x):
    """Return ``(mantissa, unit)``; plain arrays get the dimensionless unit."""
    if isinstance(x, u.Quantity):
        return x.mantissa, x.unit
    return x, u.get_unit(1.0)


def wrap_unit(x, unit):
    """Attach ``unit`` to ``x`` unless it is dimensionless (then return the bare array)."""
    if unit is None or unit.is_unitless:
        return x
    return u.Quantity(x, unit=unit)


def is_traced(*xs) -> bool:
    """True if any argument is an abstract tracer (values unknown at Python time)."""
    import jax

    for x in xs:
        if isinstance(x, jax.core.Tracer):
            return True
    return False


def float_dtype(*xs):
    """Result float dtype for a product of weights and an operand (bools become the weight dtype)."""
    dts = [jnp.result_type(x) for x in xs if x is not None and jnp.issubdtype(jnp.result_type(x), jnp.inexact)]
    return jnp.result_type(*dts) if dts else jnp.float32
