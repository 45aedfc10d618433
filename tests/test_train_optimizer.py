"""The optax bridge against optax applied by hand to plain arrays."""

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim
from brainsim import train


class Affine(brainsim.Module):
    def __init__(self):
        super().__init__(name="net")
        self.w = brainsim.ParamState(jnp.array([[0.5, -1.0], [2.0, 0.3]]))
        self.b = brainsim.ParamState(jnp.array([0.1, -0.2]))

    def __call__(self, x):
        return x @ self.w.value + self.b.value


def loss_pure(p, x, y):
    return jnp.mean((x @ p["w"] + p["b"] - y) ** 2)


X = jnp.asarray(np.random.default_rng(0).normal(size=(8, 2)), jnp.float32)
Y = jnp.asarray(np.random.default_rng(1).normal(size=(8, 2)), jnp.float32)

TXS = {
    "sgd": lambda: optax.sgd(0.1),
    "adam": lambda: optax.adam(1e-2),
    "adam_schedule": lambda: optax.adam(optax.exponential_decay(1e-2, 2, 0.5)),
    "chain_clip_adamw": lambda: optax.chain(optax.clip_by_global_norm(0.5), optax.adamw(3e-3)),
}


def reference_run(tx, steps):
    p = {"w": jnp.array([[0.5, -1.0], [2.0, 0.3]]), "b": jnp.array([0.1, -0.2])}
    s = tx.init(p)
    for _ in range(steps):
        g = jax.grad(loss_pure)(p, X, Y)
        upd, s = tx.update(g, s, p)
        p = optax.apply_updates(p, upd)
    return p


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", list(TXS))
def test_updates_match_optax(name, use_jit):
    net = Affine()
    opt = train.Optimizer(TXS[name](), net)
    assert set(opt.param_states) == {"w", "b"}

    def step(x, y):
        grads, loss = brainsim.grad(lambda: jnp.mean((net(x) - y) ** 2), opt.param_states,
                                    return_value=True)()
        opt.update(grads)
        return loss

    if use_jit:
        step = brainsim.jit(step)
    for _ in range(5):
        step(X, Y)
    ref = reference_run(TXS[name](), 5)
    np.testing.assert_allclose(net.w.value, ref["w"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.b.value, ref["b"], rtol=1e-5, atol=1e-6)
    assert int(opt.step.value) == 5


def test_make_train_step_matches_optax_and_returns_aux():
    net = Affine()
    opt = train.Optimizer(optax.adam(1e-2), net)

    def loss_fn(x, y):
        out = net(x)
        return jnp.mean((out - y) ** 2), out.shape[0]

    step = train.make_train_step(loss_fn, opt, has_aux=True)
    for _ in range(3):
        loss, aux = step(X, Y)
    assert int(aux) == 8
    ref = reference_run(optax.adam(1e-2), 3)
    np.testing.assert_allclose(net.w.value, ref["w"], rtol=1e-5, atol=1e-6)


def test_quantity_params_keep_their_unit():
    w = brainsim.ParamState(jnp.array([1.0, 2.0]) * u.mV)
    opt = train.Optimizer(optax.sgd(0.5), [w])
    grads = brainsim.grad(lambda: jnp.sum(w.value.to_decimal(u.mV) ** 2), opt.param_states)()
    opt.update(grads)
    assert w.value.unit == u.mV
    np.testing.assert_allclose(w.value.to_decimal(u.mV), [0.0, 0.0], atol=1e-7)


def test_optimizer_state_is_checkpointed_and_params_are_not_duplicated(tmp_path):
    net = Affine()
    opt = train.Optimizer(optax.adam(1e-2), net)
    assert all(not isinstance(s, brainsim.ParamState) for s in opt.states().values())
    step = train.make_train_step(lambda: jnp.mean((net(X) - Y) ** 2), opt)
    for _ in range(3):
        step()
    brainsim.save_checkpoint(tmp_path / "c.npz", {"model": net, "opt": opt})
    mu = np.asarray(opt.opt_state.value[0].mu["w"])
    for _ in range(2):
        step()
    brainsim.load_checkpoint(tmp_path / "c.npz", {"model": net, "opt": opt})
    np.testing.assert_array_equal(opt.opt_state.value[0].mu["w"], mu)
    assert int(opt.step.value) == 3


@pytest.mark.parametrize("make, exc, match", [
    (lambda net: train.Optimizer("adam", net), TypeError, "optax.GradientTransformation"),
    (lambda net: train.Optimizer(optax.sgd(1.), 3.0), TypeError, "expects a Module, a State"),
    (lambda net: train.Optimizer(optax.sgd(1.), [net.w, 1.0]), TypeError, "entry '1' is a float"),
    (lambda net: train.Optimizer(optax.sgd(1.), []), ValueError, "got no states"),
    (lambda net: train.Optimizer(optax.sgd(1.), brainsim.Module()), ValueError,
     "without any ParamState"),
])
def test_bad_construction_is_explained(make, exc, match):
    with pytest.raises(exc, match=match):
        make(Affine())


def test_bad_grads_are_explained():
    net = Affine()
    opt = train.Optimizer(optax.sgd(1.), net)
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['x'\]"):
        opt.update({"w": jnp.zeros((2, 2)), "x": jnp.zeros(2)})
    with pytest.raises(TypeError, match="expects a dict keyed like opt.param_states"):
        opt.update([jnp.zeros((2, 2)), jnp.zeros(2)])
