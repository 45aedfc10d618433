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
    ev = layers.EventLinear(30, 12, weight=lin.weight.value)
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
    with pytest.raises(ValueError, match=r"weight has shape \(2, 2\)"):
        layers.Linear(3, 4, weight=np.ones((2, 2)))


# every layer class, built with in_size=I, out_size=O and a given weight=
I, O = 6, 4
CLASSES = {
    "Linear": lambda i, o, **kw: layers.Linear(i, o, **kw),
    "EventLinear": lambda i, o, **kw: layers.EventLinear(i, o, **kw),
    "EventFixedProb": lambda i, o, **kw: layers.EventFixedProb(i, o, prob=0.5, seed=1, **kw),
    "FixedNumConn": lambda i, o, **kw: layers.FixedNumConn(i, o, num=2, seed=1, **kw),
    "EventFixedNumConn": lambda i, o, **kw: layers.EventFixedNumConn(i, o, num=2, seed=1, **kw),
}


def _weight_shape(name):
    """Shape of one weight per synapse: (in, out) for dense layers, the connectivity's otherwise."""
    if name in ("Linear", "EventLinear"):
        return (I, O)
    return CLASSES[name](I, O).conn.indices.shape


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("form", ["array", "quantity", "callable"])
def test_every_layer_takes_weight_in_the_same_forms(name, form):
    shape = _weight_shape(name)
    w = np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    given = {"array": w, "quantity": w * u.nS, "callable": lambda s: jnp.asarray(w).reshape(s)}[form]
    layer = CLASSES[name](I, O, weight=given)
    np.testing.assert_array_equal(u.get_mantissa(layer.weight.value), w)
    W = np.asarray(u.get_mantissa(_dense_of(layer)))
    s = (np.arange(I) % 2).astype(np.float32)
    out = layer(s)
    if form == "quantity":
        assert out.unit == u.nS
    np.testing.assert_allclose(u.get_mantissa(out), s @ W, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("sizes, bad", [((-3, 2), "in_size"), ((3, -1), "out_size"), ((2.5, 2), "in_size"),
                                        ((True, 2), "in_size")])
def test_layer_sizes_must_be_non_negative_integers(name, sizes, bad):
    with pytest.raises(ValueError, match=f"{name}: {bad} must be a non-negative integer, got"):
        CLASSES[name](*sizes)


@pytest.mark.parametrize("name", CLASSES)
@pytest.mark.parametrize("form", ["array", "quantity", "callable"])
def test_non_finite_layer_weights_are_refused(name, form):
    w = np.ones(_weight_shape(name), np.float32)
    w.flat[1] = np.nan
    given = {"array": w, "quantity": w * u.nS, "callable": lambda s: jnp.asarray(w)}[form]
    with pytest.raises(ValueError, match=f"{name}: weight holds 1 NaN and 0 infinite value"):
        CLASSES[name](I, O, weight=given)


# ---------------------------------------------------------------- DaleLinear
def test_dale_linear_keeps_signs_through_training():
    import optax
    import brainsim
    from brainsim import layers, train
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(6, 6)).astype(np.float32)
    layer = layers.DaleLinear(6, 6, n_exc=4, weight=jnp.asarray(w0), bias=True,
                              self_connections=False)
    x = jnp.asarray(rng.random((5, 6)), jnp.float32)
    # against a numpy reference of |W| * sign * (1 - I)
    ref = np.abs(w0) * np.where(np.arange(6) < 4, 1., -1.)[:, None] * (1 - np.eye(6))
    np.testing.assert_allclose(layer(x), np.asarray(x) @ ref, rtol=1e-5, atol=1e-6)
    # push the excitatory rows negative: the effective signs must not flip
    opt = train.Optimizer(optax.sgd(0.5), layer)
    step = train.make_train_step(lambda: jnp.sum(layer(x)[:, :]), opt)
    for _ in range(20):
        step()
    W = np.asarray(layer.effective_weight())
    assert (W[:4] >= 0).all() and (W[4:] <= 0).all() and (np.diag(W) == 0).all()
    assert np.abs(np.asarray(layer.weight.value) - w0).max() > 0.1      # it did train


def test_dale_linear_checks():
    from brainsim import layers
    with pytest.raises(ValueError, match=r"DaleLinear: n_exc=5 exceeds in_size=4"):
        layers.DaleLinear(4, 4, n_exc=5)
    with pytest.raises(ValueError, match=r"DaleLinear: input has shape \(3,\) but the layer expects"):
        layers.DaleLinear(4, 2, n_exc=2)(jnp.ones(3))
