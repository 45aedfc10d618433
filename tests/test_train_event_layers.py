"""Training through event-driven layers: gradients equal those of the dense product.

A two-layer spiking network (binary input spikes -> layer -> LIF with surrogate -> layer ->
leaky readout) is built once with event-driven layers and once with dense products of the
same weights; BPTT gradients with respect to both weight ParamStates must agree. The second
layer receives surrogate spikes, so the event layer's input gradient (straight-through) is
exercised as well.
"""

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import layers, neurons, surrogate, train

T, B, N_IN, N_HID, N_OUT = 20, 8, 30, 24, 4


class DenseOf(brainsim.Module):
    """Dense reference of a sparse layer: the same per-synapse ParamState, densified."""

    def __init__(self, sparse):
        super().__init__()
        self.conn = sparse.conn
        self.weight = brainsim.ParamState(sparse.weight.value)

    def __call__(self, x):
        return x.astype(jnp.float32) @ self.conn.with_data(self.weight.value).todense()


def make_layer(kind, n_in, n_out, seed, dense):
    rng = np.random.default_rng(seed)
    if kind == "linear":
        w = jnp.asarray(rng.normal(0.5, 6.0 / np.sqrt(n_in), (n_in, n_out)), jnp.float32)
        return layers.Linear(n_in, n_out, weight=w) if dense else layers.EventLinear(
            n_in, n_out, weight=w)
    sparse = layers.EventFixedProb(n_in, n_out, prob=0.5, seed=seed,
                                   weight=lambda shape: jnp.asarray(
                                       rng.normal(1.0, 8.0 / np.sqrt(n_in), shape), jnp.float32))
    return DenseOf(sparse) if dense else sparse


class Net(brainsim.DynamicsModule):
    def __init__(self, kind, dense):
        super().__init__(N_IN)
        self.fc1 = make_layer(kind, N_IN, N_HID, 1, dense)
        self.lif = neurons.LIF(N_HID, tau=5. * u.ms, V_th=1., V_reset=0., V_rest=0.,
                               spk_fun=surrogate.Arctan(), detach_reset=False)
        self.fc2 = make_layer(kind, N_HID, N_OUT, 2, dense)
        self.out = neurons.LeakyIntegrator(N_OUT, tau=5. * u.ms)

    def update(self, xs):
        brainsim.reset_states(self, batch_size=xs.shape[1])

        def step(x):
            s = self.lif(self.fc1(x))
            return s, self.out(self.fc2(s))

        return brainsim.for_loop(step, xs)


def data():
    r = np.random.default_rng(0)
    return (jnp.asarray(r.random((T, B, N_IN)) < 0.2, jnp.float32),
            jnp.asarray(r.integers(0, N_OUT, B), jnp.int32))


@pytest.mark.parametrize("kind", ["linear", "fixed_prob"])
def test_event_layer_gradients_equal_dense(kind):
    brainsim.environ.set(dt=1. * u.ms)
    xs, ys = data()
    grads, spikes = [], []
    for dense in (False, True):
        net = brainsim.init_states(Net(kind, dense), B)
        params = {"w1": net.fc1.weight, "w2": net.fc2.weight}

        def loss_and_count():
            s, v = net(xs)
            return train.max_membrane_cross_entropy(v, ys) + 1e-3 * train.l1_spike_total(s), \
                s.sum()

        g, count = brainsim.jit(brainsim.grad(loss_and_count, params, has_aux=True))()
        grads.append(g)
        spikes.append(float(count))
    assert spikes[0] == spikes[1] and spikes[0] > 100, "the hidden layer must spike"
    for k in ("w1", "w2"):
        assert float(jnp.abs(grads[1][k]).max()) > 0
        np.testing.assert_allclose(grads[0][k], grads[1][k], rtol=1e-4, atol=1e-6)
