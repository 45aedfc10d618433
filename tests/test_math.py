"""``exprel`` against float64 NumPy, its analytic derivative, and the reason it exists."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim._math import exprel

ULP = 2. ** -24      # float32 unit roundoff


def _exact(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    safe = np.where(z == 0, 1., z)
    return np.where(z == 0, 1., np.expm1(safe) / safe)


def _exact_grad(z: np.ndarray) -> np.ndarray:
    """d/dz (e^z - 1)/z = (z e^z - e^z + 1) / z^2, and its limit 1/2 at 0 (series for small z)."""
    z = z.astype(np.float64)
    small = np.abs(z) < 1e-3
    zs = np.where(small, 1., z)
    return np.where(small, 0.5 + z / 3. + z * z / 8., (zs * np.exp(zs) - np.expm1(zs)) / zs ** 2)


# (what the range tests, its values): each side of the polynomial/exp switch at |z| = 0.5,
# the exponential-Euler range of a neuron (|A dt| ~ 1e-3 .. 1e-1), and the far tails
RANGES = [
    ("zero", np.array([0.])),
    ("tiny", np.concatenate([-np.logspace(-12, -4, 2001), np.logspace(-12, -4, 2001)])),
    ("neuron", np.concatenate([-np.logspace(-4, np.log10(0.5), 4001),
                               np.logspace(-4, np.log10(0.5), 4001)])),
    ("switch", np.linspace(-0.51, 0.51, 4001)),
    ("large", np.concatenate([-np.logspace(np.log10(0.5), 2, 4001),
                              np.logspace(np.log10(0.5), 1.9, 4001)])),
]


@pytest.mark.parametrize("name,z", RANGES, ids=[r[0] for r in RANGES])
def test_float32_within_three_ulps_of_float64(name, z):
    z = z.astype(np.float32)
    got = np.asarray(jax.jit(exprel)(jnp.asarray(z)), np.float64)
    rel = np.abs(got - _exact(z)) / _exact(z)
    assert rel.max() < 3 * ULP, (name, float(rel.max() / ULP), float(z[np.argmax(rel)]))


@pytest.mark.parametrize("name,z", RANGES[:4], ids=[r[0] for r in RANGES[:4]])
def test_gradient_equals_the_analytic_derivative(name, z):
    z = z.astype(np.float32)
    g = np.asarray(jax.jit(jax.vmap(jax.grad(exprel)))(jnp.asarray(z)), np.float64)
    np.testing.assert_allclose(g, _exact_grad(z), rtol=2e-6, atol=1e-7)


def test_tails_and_dtypes():
    z = jnp.array([-1e4, -200., 100.], jnp.float32)
    np.testing.assert_allclose(np.asarray(exprel(z)), [1e-4, 0.005, np.inf], rtol=1e-6)
    assert exprel(jnp.array([1, 2])).dtype == jnp.float32                 # ints become floats
    assert exprel(jnp.zeros(3, jnp.bfloat16)).dtype == jnp.bfloat16      # expm1 path, same dtype
    np.testing.assert_allclose(np.asarray(exprel(jnp.array([0., 1.], jnp.bfloat16)), np.float32),
                               [1., np.e - 1.], rtol=1e-2)


def test_float32_compiles_without_expm1():
    """The point of exprel: XLA:CPU's expm1 is a scalar call that keeps its fusion unvectorised."""
    hlo = jax.jit(exprel).lower(jnp.zeros(64, jnp.float32)).compile().as_text()
    assert "exponential-minus-one" not in hlo and "exponential" in hlo
