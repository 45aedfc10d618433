"""Parameter bounds: checking them, and the bounded unit-free coordinates the search works in."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Bounds", "parse_bounds", "sample_unit_cube"]

#: Candidates stay this far inside the unit cube, where the logit is finite.
EPS = 1e-4


class Bounds:
    """The fitted parameters' names, units and SI bounds ``low < high``.

    A candidate lives in unconstrained coordinates ``z``; its parameters are
    ``low + (high - low) * sigmoid(z)``, so every gradient step stays inside
    the bounds and all parameters have the same scale whatever their unit.
    """

    def __init__(self, names: list[str], units: list[Any], low: np.ndarray, high: np.ndarray):
        self.names, self.units = names, units
        self.low = np.asarray(low, np.float64)
        self.high = np.asarray(high, np.float64)

    def to_params(self, z: jax.Array) -> dict[str, jax.Array]:
        """``z`` ``[..., P]`` -> SI values by name, each ``[...]``."""
        x = jax.nn.sigmoid(z)
        p = jnp.asarray(self.low, z.dtype) + jnp.asarray(self.high - self.low, z.dtype) * x
        return {n: p[..., k] for k, n in enumerate(self.names)}

    def from_unit(self, x: np.ndarray) -> np.ndarray:
        """Unit-cube coordinates ``[..., P]`` -> ``z``."""
        x = np.clip(x, EPS, 1. - EPS)
        return np.log(x) - np.log1p(-x)

    def quantities(self, si: Any) -> dict[str, Any]:
        """SI values ``[..., P]`` (numpy) -> Quantities in the units of the bounds."""
        si = np.asarray(si, np.float64)
        out = {}
        for k, (n, unit) in enumerate(zip(self.names, self.units)):
            v = si[..., k]
            out[n] = u.Quantity(v, unit=u.Unit(unit.dim)).in_unit(unit) \
                if unit.dim != u.DIMENSIONLESS else v
        return out

    def si(self, z: np.ndarray) -> np.ndarray:
        """``z`` ``[..., P]`` -> SI values ``[..., P]`` (numpy)."""
        x = 1. / (1. + np.exp(-np.asarray(z, np.float64)))
        return self.low + (self.high - self.low) * x


def _si_scalar(v: Any) -> float:
    return float(u.Quantity(v).to_decimal(u.Unit(v.dim))) if isinstance(v, u.Quantity) \
        else float(v)


def parse_bounds(where: str, params: Any) -> Bounds:
    """``{'gL': [low, high], ...}`` -> :class:`Bounds`, or a ``ValueError`` saying what is wrong."""
    if not isinstance(params, dict) or not params:
        raise TypeError(f"{where}: params must be a dict of bounds such as "
                        f"{{'gL': [1., 100.] * u.nS}}, got {params!r}.")
    names, units, low, high = [], [], [], []
    for name, b in params.items():
        if isinstance(b, u.Quantity):
            pair = [b[0], b[1]] if np.shape(b.mantissa) == (2,) else None
        else:
            pair = list(b) if isinstance(b, (list, tuple, np.ndarray)) and len(b) == 2 else None
        if pair is None:
            raise ValueError(f"{where}: the bounds of {name!r} must be a pair [low, high], e.g. "
                             f"[1., 100.] * u.nS, got {b!r}.")
        lo, hi = pair
        d_lo, d_hi = u.get_dim(lo), u.get_dim(hi)
        if d_lo != d_hi:
            raise ValueError(f"{where}: the bounds of {name!r} have different units: low={lo}, "
                             f"high={hi}. How to fix: give both in one unit.")
        unit = lo.unit if isinstance(lo, u.Quantity) else u.UNITLESS
        lo_si, hi_si = _si_scalar(lo), _si_scalar(hi)
        if not (np.isfinite(lo_si) and np.isfinite(hi_si)) or lo_si >= hi_si:
            raise ValueError(f"{where}: the bounds of {name!r} need low < high (both finite), "
                             f"got low={lo}, high={hi}. How to fix: give [low, high] with "
                             f"low below high.")
        names.append(name)
        units.append(unit)
        low.append(lo_si)
        high.append(hi_si)
    return Bounds(names, units, np.array(low), np.array(high))


def sample_unit_cube(rng: np.random.Generator, n: int, p: int, method: str) -> np.ndarray:
    """``n`` points in ``[0, 1]^p``: independent uniform, or a Latin hypercube ('lhs').

    A Latin hypercube puts exactly one point in each of ``n`` equal slices of
    every axis, which covers the bounds more evenly than independent draws.
    """
    if method == "uniform":
        return rng.uniform(size=(n, p))
    if method == "lhs":
        cells = np.stack([rng.permutation(n) for _ in range(p)], axis=1)
        return (cells + rng.uniform(size=(n, p))) / n
    raise ValueError(f"init must be 'uniform' or 'lhs' (Latin hypercube), got {method!r}.")
