"""Tests for brainsim.surrogate: exact forward, documented backward."""
import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim import surrogate


def _npdf(x, mu, s):
    return np.exp(-(x - mu) ** 2 / (2 * s * s)) / (math.sqrt(2 * math.pi) * s)


def _sig(z):
    return 1 / (1 + np.exp(-z))


# name -> (instance, functional form with kwargs, independent numpy formula of g'(x))
CASES = {
    'sigmoid': (surrogate.Sigmoid(alpha=3.), lambda x: surrogate.sigmoid(x, alpha=3.),
                lambda x: 3 * _sig(3 * x) * (1 - _sig(3 * x))),
    'arctan': (surrogate.Arctan(alpha=1.5), lambda x: surrogate.arctan(x, alpha=1.5),
               lambda x: 1.5 / 2 / (1 + (np.pi / 2 * 1.5 * x) ** 2)),
    'fast_sigmoid': (surrogate.FastSigmoid(alpha=5.), lambda x: surrogate.fast_sigmoid(x, alpha=5.),
                     lambda x: (5 * np.abs(x) + 1) ** -2.),
    'inv_square': (surrogate.InvSquare(alpha=7.), lambda x: surrogate.inv_square(x, alpha=7.),
                   lambda x: (7 * np.abs(x) + 1) ** -2.),
    'piecewise_linear': (surrogate.PiecewiseLinear(alpha=1.25),
                         lambda x: surrogate.piecewise_linear(x, alpha=1.25),
                         lambda x: np.clip(1.25 - 1.25 ** 2 * np.abs(x), 0, None)),
    'gaussian': (surrogate.Gaussian(sigma=0.7, alpha=0.9), lambda x: surrogate.gaussian(x, sigma=0.7, alpha=0.9),
                 lambda x: 0.9 * _npdf(x, 0, 0.7)),
    'multi_gaussian': (surrogate.MultiGaussian(h=0.2, s=5., sigma=0.4, scale=0.6),
                       lambda x: surrogate.multi_gaussian(x, h=0.2, s=5., sigma=0.4, scale=0.6),
                       lambda x: 0.6 * (1.2 * _npdf(x, 0, 0.4) - 0.2 * _npdf(x, 0.4, 2.0) - 0.2 * _npdf(x, -0.4, 2.0))),
    'soft_sign': (surrogate.SoftSign(alpha=2.5), lambda x: surrogate.soft_sign(x, alpha=2.5),
                  lambda x: 2.5 / (2 * (1 + 2.5 * np.abs(x)) ** 2)),
    'piecewise_exp': (surrogate.PiecewiseExp(alpha=1.5), lambda x: surrogate.piecewise_exp(x, alpha=1.5),
                      lambda x: 0.75 * np.exp(-1.5 * np.abs(x))),
}
NAMES = list(CASES)
XS = np.array([-3., -1.1, -0.5, -0.13, -1e-3, 0., 1e-3, 0.07, 0.4, 0.79, 1.6, 4.], dtype=np.float32)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('dtype', [jnp.float32, jnp.bfloat16, jnp.float16])
def test_forward_is_exact_heaviside(name, dtype):
    inst, fn, _ = CASES[name]
    x = jnp.asarray(XS, dtype=dtype)
    for out in (inst(x), fn(x), jax.jit(inst)(x)):
        assert out.dtype == dtype and out.shape == x.shape
        np.testing.assert_array_equal(np.asarray(out, np.float32), (XS > 0).astype(np.float32))


@pytest.mark.parametrize('name', NAMES)
def test_backward_matches_formula(name):
    inst, fn, formula = CASES[name]
    expected = formula(XS.astype(np.float64))
    x = jnp.asarray(XS)
    g_rev = jax.vmap(jax.grad(inst))(x)
    g_fun = jax.grad(lambda z: fn(z).sum())(x)
    _, g_fwd = jax.jvp(inst, (x,), (jnp.ones_like(x),))
    g_jit = jax.jit(jax.grad(lambda z: inst(z).sum()))(x)
    g_jacfwd = jnp.diag(jax.jacfwd(inst)(x))
    for g in (g_rev, g_fun, g_fwd, g_jit, g_jacfwd):
        np.testing.assert_allclose(np.asarray(g), expected, rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize('name', ['sigmoid', 'arctan', 'gaussian', 'multi_gaussian'])
def test_second_derivative_is_derivative_of_surrogate(name):
    inst, _, formula = CASES[name]
    x = XS[np.abs(XS) > 1e-2].astype(np.float64)
    h = 1e-4
    fd = (formula(x + h) - formula(x - h)) / (2 * h)   # central difference of the formula
    with jax.enable_x64(True):
        gg = jax.vmap(jax.grad(jax.grad(inst)))(jnp.asarray(x))
    np.testing.assert_allclose(np.asarray(gg), fd, rtol=1e-5, atol=1e-7)


def test_grad_of_vmap_and_vmap_of_grad():
    spk = surrogate.Sigmoid(alpha=4.)
    w = jnp.array([0.3, -0.2, 0.9])
    xs = jnp.array([[0.1, 0.5, -0.4], [1.0, -1.0, 0.2]])

    def loss(w):
        return jax.vmap(lambda x: spk(x * w - 0.1).sum())(xs).sum()

    # d/dw sum_i H(x_i w - 0.1) = sum over samples of x * g'(x w - 0.1)
    xs_np, w_np = np.asarray(xs, np.float64), np.asarray(w, np.float64)
    expected = (xs_np * 4 * _sig(4 * (xs_np * w_np - 0.1)) * _sig(-4 * (xs_np * w_np - 0.1))).sum(0)
    np.testing.assert_allclose(jax.grad(loss)(w), expected, rtol=1e-5)
    per_sample = jax.vmap(jax.grad(lambda w, x: spk(x * w - 0.1).sum()), in_axes=(None, 0))(w, xs)
    np.testing.assert_allclose(per_sample.sum(0), expected, rtol=1e-5)


def test_unit_error_and_dimensionless_quantity():
    V, V_th = jnp.array([-50., -70.]) * u.mV, -55. * u.mV
    with pytest.raises(ValueError, match=r'Sigmoid surrogate function got x with unit mV; .*'
                                         r'Pass \(V - V_th\) / \(V_th - V_reset\)'):
        surrogate.Sigmoid()(V - V_th)
    with pytest.raises(ValueError, match='got x with unit mV'):
        surrogate.arctan(V - V_th)
    x = (V - V_th) / (5. * u.mV)
    np.testing.assert_array_equal(surrogate.Sigmoid()(x), [1., 0.])
    # an explicit dimensionless Quantity with a scale (mV/V) is folded into the number
    q = u.Quantity(jnp.array([2., -3.]), unit=u.mV / u.volt)
    g = jax.grad(lambda m: surrogate.PiecewiseLinear()(u.Quantity(m, unit=u.mV / u.volt)).sum())(
        jnp.array([2., -3.]))
    np.testing.assert_allclose(g, (1 - np.abs([2e-3, -3e-3])) * 1e-3, rtol=1e-5)
    np.testing.assert_array_equal(surrogate.PiecewiseLinear()(q), [1., 0.])


def test_integer_and_bool_input_give_float():
    out = surrogate.Sigmoid()(jnp.array([-1, 0, 2]))
    assert jnp.issubdtype(out.dtype, jnp.floating)
    np.testing.assert_array_equal(out, [0., 0., 1.])


def test_heaviside_has_zero_gradient():
    np.testing.assert_array_equal(surrogate.heaviside(jnp.array([-1., 0., 1.])), [0., 0., 1.])
    assert float(jax.grad(surrogate.heaviside)(0.0)) == 0.0


def test_get_lookup():
    s = surrogate.get('Arctan', alpha=3.)
    assert isinstance(s, surrogate.Arctan) and s.alpha == 3.
    assert isinstance(surrogate.get('atan'), surrogate.Arctan)
    assert isinstance(surrogate.get('super-spike'), surrogate.FastSigmoid)
    assert isinstance(surrogate.get('triangle'), surrogate.PiecewiseLinear)
    inst = surrogate.Gaussian()
    assert surrogate.get(inst) is inst
    with pytest.raises(ValueError, match=r"Unknown surrogate function 'sigmod'\. Valid names: 'sigmoid'.*"
                                         r"Did you mean 'sigmoid'\?"):
        surrogate.get('sigmod')
    with pytest.raises(TypeError, match='surrogate name must be a str'):
        surrogate.get(3)
    with pytest.raises(ValueError, match='pass either a name with parameters or a ready instance'):
        surrogate.get(inst, alpha=1.)


@pytest.mark.parametrize('cls', [surrogate.Sigmoid, surrogate.Arctan, surrogate.SoftSign,
                                 surrogate.PiecewiseLinear, surrogate.FastSigmoid])
def test_bad_sharpness(cls):
    with pytest.raises(ValueError, match=rf'{cls.__name__}: alpha must be > 0; got alpha=-1\.0'):
        cls(alpha=-1.0)


def test_defaults_and_repr():
    assert repr(surrogate.Sigmoid()) == 'Sigmoid(alpha=4.0)'
    assert surrogate.Arctan().alpha == 2.0 and surrogate.FastSigmoid().alpha == 25.0
    assert surrogate.InvSquare().alpha == 100.0
    assert repr(surrogate.MultiGaussian()) == 'MultiGaussian(h=0.15, s=6.0, sigma=0.5, scale=0.5)'
    assert surrogate.Sigmoid.__module__ == 'brainsim.surrogate'


def test_traced_hyperparameter_under_jit():
    # a learnable/traced sharpness flows through jit and gets its own gradient
    def f(alpha, x):
        return surrogate.sigmoid(x, alpha=alpha).sum()
    g = jax.jit(jax.grad(f, argnums=1))(3.0, jnp.array([0.2]))
    np.testing.assert_allclose(g, CASES['sigmoid'][2](np.array([0.2])), rtol=1e-5)
