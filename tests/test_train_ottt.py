"""OTTT: its gradient equals BPTT's where the theory says so, differs where it must, and its
compiled memory does not grow with the number of time steps (BPTT's does)."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim
from brainsim import layers, neurons, train

DT = 1. * u.ms
TAU = 2. * u.ms
_RNG = np.random.default_rng(42)


def w0(shape):
    """N(0, 1/fan_in) from numpy (no JAX random program to compile per shape)."""
    return (_RNG.normal(size=shape) / np.sqrt(np.prod(shape[:-1]))).astype(np.float32)


def _lif(n):
    return neurons.LIF(n, tau=TAU, V_th=1., V_reset=0., V_rest=0., spk_reset="soft",
                       detach_reset=True)


class ConvNet(brainsim.Module):
    """conv -> LIF -> avg pool -> (traced) conv -> LIF -> pool -> (traced) linear readout."""

    def __init__(self, traced=True, c=(3, 4), hw=6):
        super().__init__()
        wrap = (lambda layer, shape: train.OTTTLayer(layer, shape, decay=TAU)) if traced \
            else (lambda layer, shape: layer)
        self.conv1 = layers.WSConv2d(1, c[0], 3, weight=w0)
        self.lif1 = _lif((hw, hw, c[0]))
        self.pool = layers.AvgPool2d(2)
        self.conv2 = wrap(layers.WSConv2d(c[0], c[1], 3, weight=w0), (hw // 2, hw // 2, c[0]))
        self.lif2 = _lif((hw // 2, hw // 2, c[1]))
        self.fc = wrap(layers.Linear(c[1], 3, bias=True, weight=w0), (c[1],))

    def __call__(self, x):
        s = self.pool(self.lif1(10. * self.conv1(x)))
        s = self.lif2(10. * self.conv2(s))
        return self.fc(jnp.mean(s, axis=(1, 2)))


def _loss(out, y):
    return train.cross_entropy(out, y)


def _sgd1_change(trainer_args, net, loss, **kw):
    """Run the OTTT trainer with SGD(1): the parameter change is minus the summed gradient."""
    params = net.states(brainsim.ParamState)
    before = {k: np.asarray(s.value) for k, s in params.items()}
    opt = train.Optimizer(optax.sgd(1.0), params)
    train.OTTT(net, loss, opt, **kw)(*trainer_args)
    return {k: before[k] - np.asarray(s.value) for k, s in params.items()}


def test_ottt_gradient_equals_bptt_for_one_step():
    # a deep conv net: for T = 1 the traces are the spikes, and OTTT is backprop (BPTT over 1 step)
    rng = np.random.default_rng(0)
    x = rng.random((5, 6, 6, 1)).astype(np.float32)
    y = jnp.array([0, 1, 2, 1, 0])
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(ConvNet(), batch_size=5)
        ref = brainsim.jit(brainsim.grad(lambda: _loss(net(x), y), net.states(brainsim.ParamState)))()
        brainsim.reset_states(net, 5)
        g = _sgd1_change((x, y, 1), net, _loss)
    assert set(g) == set(ref) and len(g) == 6   # 2 x (weight, gain), fc weight and bias
    for k in ref:
        assert np.abs(ref[k]).max() > 0, k
        np.testing.assert_allclose(g[k], ref[k], rtol=2e-3, atol=2e-6 * np.abs(ref[k]).max(), err_msg=k)


class OneLayer(brainsim.Module):
    def __init__(self, traced):
        super().__init__()
        lin = layers.Linear(12, 4, weight=lambda s: 1.5 * np.sqrt(12) * w0(s))
        self.fc = train.OTTTLayer(lin, 12, decay=TAU) if traced else lin
        self.lif = _lif(4)
        self.c = jnp.array([1., -1., 0.5, 2.])

    def __call__(self, s_in):
        return self.lif(self.fc(s_in)) * self.c


def _one_layer_grads(traced, T=8):
    rng = np.random.default_rng(1)
    s_in = (rng.random((T, 3, 12)) < 0.4).astype(np.float32)
    loss = lambda out, y: jnp.sum(out)  # noqa: E731
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(OneLayer(traced), batch_size=3)
        params = net.states(brainsim.ParamState)
        ref = brainsim.jit(brainsim.grad(
            lambda: jnp.sum(brainsim.for_loop(lambda s: net(s), s_in)), params))()
        brainsim.reset_states(net, 3)
        g = _sgd1_change((s_in, None), net, loss)
    return g, ref


def test_ottt_equals_bptt_over_many_steps_for_one_layer_with_a_detached_reset():
    # one layer: d u[t] / dW = trace[t] exactly, so the online gradient is BPTT's
    g, ref = _one_layer_grads(traced=True)
    key = "fc.layer.weight"
    assert np.abs(ref[key]).max() > 0
    np.testing.assert_allclose(g[key], ref[key], rtol=1e-3, atol=1e-5 * np.abs(ref[key]).max())


def test_without_traces_the_online_gradient_misses_the_past():
    # negative control: the instantaneous gradient alone is not BPTT's when T > 1
    g, ref = _one_layer_grads(traced=False)
    assert np.abs(g["fc.weight"] - ref["fc.weight"]).max() > 0.05 * np.abs(ref["fc.weight"]).max()


class DenseNet(brainsim.Module):
    def __init__(self, n_in=64, n_hid=256):
        super().__init__()
        self.fc1 = layers.Linear(n_in, n_hid, weight=w0)
        self.lif = _lif(n_hid)
        self.fc2 = train.OTTTLayer(layers.Linear(n_hid, 10, weight=w0), n_hid, decay=TAU)

    def __call__(self, x):
        return self.fc2(self.lif(3. * self.fc1(x)))


def test_online_update_steps_the_optimizer_every_time_step():
    x = np.random.default_rng(2).random((2, 64)).astype(np.float32)
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(DenseNet(), batch_size=2)
        opt = train.Optimizer(optax.sgd(0.1), net.states(brainsim.ParamState))
        loss, out = train.OTTT(net, _loss, opt, online_update=True)(x, jnp.array([0, 2]), n_steps=3)
    assert int(opt.step.value) == 3
    assert out.shape == (2, 10) and np.isfinite(float(loss))


def _peak_bytes(lowered):
    m = lowered.compile().memory_analysis()
    return (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
            - m.alias_size_in_bytes)


def test_ottt_memory_is_flat_in_T_and_bptt_memory_grows():
    x = np.random.default_rng(3).random((32, 64)).astype(np.float32)
    y = jnp.zeros(32, jnp.int32)
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(DenseNet(), batch_size=32)
        opt = train.Optimizer(optax.sgd(0.1), net.states(brainsim.ParamState))
        trainer = train.OTTT(net, _loss, opt)

        def bptt(T):
            def total():
                return jnp.sum(brainsim.for_loop(lambda: _loss(net(x), y), length=T))
            return train.make_train_step(total, opt)

        ottt = {T: _peak_bytes(trainer.lower(x, y, n_steps=T)) for T in (4, 16)}
        full = {T: _peak_bytes(bptt(T).lower()) for T in (4, 16)}
    assert ottt[16] / ottt[4] < 1.05, ottt
    assert full[16] / full[4] > 2.0, full
    assert int(opt.step.value) == 0        # lowering runs nothing


def test_ottt_layer_outside_training_is_its_layer_and_keeps_its_trace():
    lin = layers.Linear(3, 2, weight=w0)
    syn = brainsim.init_states(train.OTTTLayer(lin, 3, decay=0.25), batch_size=2)
    s = np.array([[1., 0., 1.], [0., 1., 0.]], np.float32)
    np.testing.assert_allclose(syn(s), lin(s), rtol=1e-6)
    syn(s)
    np.testing.assert_allclose(syn.trace.value, 1.25 * s, rtol=1e-6)
    with brainsim.environ.context(dt=0.5 * u.ms):
        assert np.isclose(float(train.OTTTLayer(lin, 3, decay=1. * u.ms).factor()), np.exp(-0.5))


def test_ottt_bad_arguments_are_refused():
    lin = layers.Linear(3, 2, weight=w0)
    with pytest.raises(ValueError, match=r"OTTTLayer: decay must be a float in \[0, 1\]"):
        train.OTTTLayer(lin, 3, decay=1.5)
    with pytest.raises(ValueError, match=r"OTTTLayer: decay given as a Quantity must be a positive time"):
        train.OTTTLayer(lin, 3, decay=2. * u.mV)
    with pytest.raises(TypeError, match=r"OTTTLayer: layer must be a callable layer"):
        train.OTTTLayer(3, 3, decay=0.5)
    syn = brainsim.init_states(train.OTTTLayer(lin, 3, decay=0.5), batch_size=2)
    with pytest.raises(ValueError, match=r"OTTTLayer: input has shape \(4, 3\), but the trace has shape \(2, 3\)"):
        syn(np.ones((4, 3)))
    opt = train.Optimizer(optax.sgd(0.1), lin.states(brainsim.ParamState))
    with pytest.raises(TypeError, match=r"OTTT: optimizer must be a brainsim.train.Optimizer"):
        train.OTTT(syn, _loss, optax.sgd(0.1))
    with pytest.raises(TypeError, match=r"OTTT: loss_fn must be callable"):
        train.OTTT(syn, None, opt)
    trainer = train.OTTT(syn, lambda o, y: jnp.sum(o), opt, jit=False)
    with pytest.raises(ValueError, match=r"OTTT: n_steps must be a positive int, got 0"):
        trainer(np.ones((2, 3)), None, n_steps=0)
    with pytest.raises(ValueError, match=r"inputs must have a leading time axis"):
        trainer(1.0, None)
    with pytest.raises(TypeError, match=r"OTTT.lower needs the compiled trainer"):
        trainer.lower(np.ones((2, 3)), None, n_steps=2)
