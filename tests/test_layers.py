"""Layers: event layers equal their dense counterparts; weights train through brainsim.grad."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import layers


def _dense_of(layer):
    if isinstance(layer, layers.Linear):
        return layer.weight.value
    return layer.matrix().todense()


LAYERS = {
    "linear": lambda: layers.Linear(30, 12),
    "event_linear": lambda: layers.EventLinear(30, 12),
    "fixed_prob_scalar": lambda: layers.EventFixedProb(30, 12, prob=0.3, weight=0.4, seed=2),
    "fixed_prob_hetero": lambda: layers.EventFixedProb(
        30, 12, prob=0.3, weight=lambda shape: jnp.linspace(-1, 1, shape[0]), seed=3),
    "fixed_num": lambda: layers.FixedNumConn(30, 12, num=4, weight=0.3, seed=4),
    "event_fixed_num": lambda: layers.EventFixedNumConn(
        30, 12, num=4, weight=lambda shape: jnp.ones(shape) * 0.2, seed=4),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layer_equals_dense_product(name):
    layer = LAYERS[name]()
    W = np.asarray(_dense_of(layer))
    rng = np.random.default_rng(0)
    for act in (0.0, 0.2, 1.0):
        s = (rng.random((5, 30)) < act).astype(np.float32)
        np.testing.assert_allclose(layer(s), s @ W, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(layer(s[0]), s[0] @ W, rtol=1e-5, atol=1e-5)
    assert isinstance(layer.weight, brainsim.ParamState)
    assert list(layer.states(brainsim.ParamState)) == ["weight"]


def test_event_layers_match_their_dense_twins():
    rng = np.random.default_rng(1)
    s = (rng.random((4, 30)) < 0.3).astype(np.float32)
    lin = layers.Linear(30, 12)
    ev = layers.EventLinear(30, 12, w_init=lin.weight.value)
    np.testing.assert_allclose(ev(s), lin(s), rtol=1e-5, atol=1e-6)
    fn = layers.FixedNumConn(30, 12, num=5, weight=0.3, seed=9)
    efn = layers.EventFixedNumConn(30, 12, num=5, weight=0.3, seed=9)
    np.testing.assert_allclose(efn(s), fn(s), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_trains_with_brainsim_grad(name):
    layer = LAYERS[name]()
    rng = np.random.default_rng(2)
    s = (rng.random((6, 30)) < 0.3).astype(np.float32)
    target = rng.normal(size=(6, 12)).astype(np.float32)
    params = layer.states(brainsim.ParamState)

    def loss():
        return jnp.mean((layer(s) - target) ** 2)

    grads = brainsim.grad(loss, params)()
    g = grads["weight"]
    # reference: jax.grad of the hand-written dense function of the same weights
    if isinstance(layer, layers.Linear):
        ref = jax.grad(lambda w: jnp.mean((s @ w - target) ** 2))(layer.weight.value)
    else:
        conn = layer.conn
        ref = jax.grad(lambda w: jnp.mean((s @ conn.with_data(w).todense() - target) ** 2))(layer.weight.value)
    np.testing.assert_allclose(g, ref, rtol=1e-4, atol=1e-6)
    before = float(loss())
    layer.weight.value = layer.weight.value - 1e-3 * g
    assert float(loss()) < before


def test_units_and_jit():
    layer = layers.EventFixedProb(30, 12, prob=0.3, weight=0.5 * u.nS, seed=1)
    s = (np.random.default_rng(3).random(30) < 0.3).astype(np.float32)
    out = brainsim.jit(lambda x: layer(x))(s)
    assert out.unit == u.nS
    np.testing.assert_allclose(out.to_decimal(u.nS), s @ np.asarray(layer.matrix().todense().to_decimal(u.nS)),
                               rtol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match=r"input has shape \(7,\).*in_size=30"):
        layers.Linear(30, 4)(np.ones(7))
    with pytest.raises(ValueError, match=r"weight must be a scalar.*got \(3,\)"):
        layers.EventFixedProb(30, 12, prob=0.3, weight=np.ones(3))
    with pytest.raises(ValueError, match=r"w_init has shape \(2, 2\)"):
        layers.Linear(3, 4, w_init=np.ones((2, 2)))
