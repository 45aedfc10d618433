"""The general training path (rate-coded input, recurrent LIF from layers.Linear and neurons.LIF,
leaky readout, BPTT): brainsim's gradients against jax.grad of the same network written by hand."""
import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim
from brainsim import encoding, layers, neurons, surrogate, train

N_IN, H, N_OUT, B, T = 12, 9, 4, 5, 15
TAU, TAU_OUT = 10., 5.   # ms, dt = 1 ms


class RSNN(brainsim.DynamicsModule):
    def __init__(self, w_in, w_rec, w_out, event_input=False):
        super().__init__(N_IN)
        # the benchmark's model takes its input spikes through EventLinear (the compiled kernel)
        fc = layers.EventLinear if event_input else layers.Linear
        self.fc_in = fc(N_IN, H, weight=jnp.asarray(w_in))
        self.fc_rec = layers.Linear(H, H, weight=jnp.asarray(w_rec))
        self.lif = neurons.LIF(H, tau=TAU * u.ms, V_th=1., V_reset=0., V_rest=0.,
                               spk_fun=surrogate.Arctan())
        self.fc_out = layers.Linear(H, N_OUT, weight=jnp.asarray(w_out))
        self.readout = neurons.LeakyIntegrator(N_OUT, tau=TAU_OUT * u.ms)

    def step(self, x):
        return self.step_current(self.fc_in(x))

    def step_current(self, i_in):
        return self.readout(self.fc_out(self.lif(i_in + self.fc_rec(self.lif.spike.value))))

    def update(self, s, hoist=False):
        brainsim.reset_states(self, batch_size=s.shape[1])
        if hoist:   # the input projection of all steps before the loop (benchmarks/train_general)
            return brainsim.for_loop(self.step_current, self.fc_in(s))
        return brainsim.for_loop(self.step, s)


@jax.custom_jvp
def _heaviside(x):
    return (x > 0).astype(x.dtype)


# arctan surrogate with alpha = 2: alpha / 2 / (1 + (pi alpha x / 2)^2)
_heaviside.defjvp(lambda p, t: (_heaviside(p[0]), t[0] / (1. + (math.pi * p[0]) ** 2)))


def hand_loss(params, s, y):
    """The same network as plain JAX: exponential Euler, detached hard reset, lax.scan."""
    w_in, w_rec, w_out = params
    b, c = math.exp(-1. / TAU), math.exp(-1. / TAU_OUT)

    def body(carry, x):
        V, z, U = carry
        V = b * V + (1. - b) * (x @ w_in + z @ w_rec)
        z = _heaviside(V - 1.)
        V = V * (1. - jax.lax.stop_gradient(z))
        U = c * U + (1. - c) * (z @ w_out)
        return (V, z, U), U

    init = (jnp.zeros((B, H)), jnp.zeros((B, H)), jnp.zeros((B, N_OUT)))
    _, us = jax.lax.scan(body, init, s)
    return train.cross_entropy(us.mean(0), y)


def _setup():
    r = np.random.default_rng(3)
    params = (r.normal(0, 2.5, (N_IN, H)).astype(np.float32),
              r.normal(0, 0.8, (H, H)).astype(np.float32),
              r.normal(0, 1.0, (H, N_OUT)).astype(np.float32))
    x = jnp.asarray(r.uniform(size=(B, N_IN)), jnp.float32)
    y = jnp.asarray(r.integers(0, N_OUT, B), jnp.int32)
    return params, x, y


# event: EventLinear for the input; bool: bool spikes into Linear (the benchmark's model), both
# the compiled event product on CPU
@pytest.mark.parametrize("rng, hoist, event, bool_spikes", [
    ("hash", False, False, False), ("threefry", False, False, False), ("hash", True, False, False),
    ("hash", True, True, False), ("hash", False, True, False), ("hash", True, False, True),
    ("hash", False, False, True)])
def test_recurrent_lif_gradient_equals_hand_written(rng, hoist, event, bool_spikes):
    params, x, y = _setup()
    s = encoding.poisson(x, T, jax.random.PRNGKey(0), rng=rng,
                         dtype=jnp.bool_ if bool_spikes else jnp.float32)
    assert 0.2 < float(s.mean()) < 0.8
    with brainsim.environ.context(dt=1. * u.ms):
        net = brainsim.init_states(RSNN(*params, event_input=event), B)
        ps = {"in": net.fc_in.weight, "rec": net.fc_rec.weight, "out": net.fc_out.weight}
        loss = lambda s: train.cross_entropy(train.mean_over_time(net(s, hoist=hoist)), y)  # noqa: E731
        g, val = brainsim.jit(brainsim.grad(loss, grad_states=ps, return_value=True))(s)
    ref_val, ref = jax.value_and_grad(hand_loss)(tuple(map(jnp.asarray, params)), s, y)
    np.testing.assert_allclose(float(val), float(ref_val), rtol=1e-6)
    for k, r in zip(("in", "rec", "out"), ref):
        assert float(jnp.abs(r).max()) > 0          # every weight gets a gradient
        np.testing.assert_allclose(np.asarray(g[k]), np.asarray(r), rtol=2e-5, atol=1e-7)


def test_training_step_with_encoding_inside_matches_hand_adam():
    """One make_train_step (Bernoulli draws inside the compiled step) equals optax.adam on the
    hand-written loss with the same draws."""
    params, x, y = _setup()
    key = jax.random.PRNGKey(7)
    with brainsim.environ.context(dt=1. * u.ms):
        net = brainsim.init_states(RSNN(*params), B)
        opt = train.Optimizer(optax.adam(1e-2), {"in": net.fc_in.weight, "rec": net.fc_rec.weight,
                                                 "out": net.fc_out.weight})
        k = brainsim.ParamState(key)   # a state, so the compiled step reads the current key
        step = train.make_train_step(
            lambda x: train.cross_entropy(train.mean_over_time(net(encoding.poisson(x, T, k.value))), y),
            opt)
        loss = step(x)
    P = tuple(map(jnp.asarray, params))
    ref_loss, g = jax.value_and_grad(hand_loss)(P, encoding.poisson(x, T, key), y)
    tx = optax.adam(1e-2)
    upd, _ = tx.update(g, tx.init(P), P)
    new = optax.apply_updates(P, upd)
    np.testing.assert_allclose(float(loss), float(ref_loss), rtol=1e-6)
    for st, r in zip((net.fc_in.weight, net.fc_rec.weight, net.fc_out.weight), new):
        np.testing.assert_allclose(np.asarray(st.value), np.asarray(r), rtol=1e-5, atol=1e-6)
