"""BPTT through brainsim.for_loop: surrogate gradients against finite differences of the
relaxed model, learning a toy task, remat, and exact resumption from a checkpoint."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim
from brainsim import surrogate, train

A_SYN, A_MEM, A_OUT = 0.8, 0.9, 0.7


class SNN(brainsim.Module):
    """Input -> exponential synapse -> LIF (threshold 1, reset to 0) -> leaky readout."""

    def __init__(self, n_in, n_hid, n_out, alpha=4.0, detach_reset=False, seed=0, scale=1.0):
        super().__init__(name="snn")
        r = np.random.default_rng(seed)
        self.w1 = brainsim.ParamState(jnp.asarray(r.normal(0, scale, (n_in, n_hid)), jnp.float32))
        self.w2 = brainsim.ParamState(jnp.asarray(r.normal(0, 0.5, (n_hid, n_out)), jnp.float32))
        self.spk = surrogate.Sigmoid(alpha=alpha)
        self.detach_reset = detach_reset
        self.sizes = (n_hid, n_out)

    def init_state(self, batch_size=None):
        b = () if batch_size is None else (batch_size,)
        self.g = brainsim.HiddenState(jnp.zeros(b + self.sizes[:1]))
        self.v = brainsim.HiddenState(jnp.zeros(b + self.sizes[:1]))
        self.vo = brainsim.HiddenState(jnp.zeros(b + self.sizes[1:]))

    def reset_state(self, batch_size=None):
        # plain assignment (allowed inside transforms): the batch size was fixed by init_state
        for st in (self.g, self.v, self.vo):
            st.value = jnp.zeros_like(st.value)

    def step(self, x):
        self.g.value = A_SYN * self.g.value + x @ self.w1.value
        v = A_MEM * self.v.value + (1 - A_MEM) * self.g.value
        s = self.spk(v - 1.0)
        keep = 1.0 - (jax.lax.stop_gradient(s) if self.detach_reset else s)
        self.v.value = v * keep
        self.vo.value = A_OUT * self.vo.value + s @ self.w2.value
        return s, self.vo.value

    def run(self, xs, remat=False):
        if self.g.value.shape[0] != xs.shape[1]:
            raise ValueError("call brainsim.init_states(net, batch_size) for this batch size")
        self.reset_state()
        return brainsim.for_loop(self.step, xs, remat=remat)


def loss_of(net, xs, labels, remat=False):
    s, vo = net.run(xs, remat)
    return train.mean_membrane_cross_entropy(vo, labels) + 1e-3 * train.l1_spike_total(s)


# ---------------------------------------------------------------- finite differences
def sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def relaxed_loss(w1, w2, xs, labels, alpha, detach_reset, frozen=None):
    """float64 NumPy model. With ``frozen=None`` it runs the Heaviside model and returns the
    pre-threshold potentials; otherwise each spike is the sigmoid relaxation shifted to pass
    through the frozen spike at the frozen potential:
    s = H(V*-1) + sig(a(V-1)) - sig(a(V*-1)). Its exact derivative at the nominal weights is
    what the surrogate gradient claims to be (same forward values, sigmoid slopes)."""
    T, B, _ = xs.shape
    g = np.zeros((B, w1.shape[1]))
    v = np.zeros_like(g)
    vo = np.zeros((B, w2.shape[1]))
    vstars, vos, total_spikes = [], [], 0.0
    for t in range(T):
        g = A_SYN * g + xs[t] @ w1
        vv = A_MEM * v + (1 - A_MEM) * g
        if frozen is None:
            s = (vv > 1.0).astype(float)
            vstars.append(vv)
        else:
            vs = frozen[t]
            s = (vs > 1.0) + sig(alpha * (vv - 1)) - sig(alpha * (vs - 1))
        keep = 1.0 - ((vs > 1.0) if (detach_reset and frozen is not None) else s)
        v = vv * keep
        vo = A_OUT * vo + s @ w2
        vos.append(vo)
        total_spikes += s.sum()
    z = np.mean(vos, axis=0)
    z = z - z.max(1, keepdims=True)
    ce = -np.mean(z[np.arange(B), labels] - np.log(np.exp(z).sum(1)))
    loss = ce + 1e-3 * total_spikes
    return (loss, vstars) if frozen is None else loss


def fd_grads(w1, w2, xs, labels, alpha, detach_reset, eps=1e-5):
    _, frozen = relaxed_loss(w1, w2, xs, labels, alpha, detach_reset)
    margin = min(np.abs(f - 1.0).min() for f in frozen)
    assert margin > 1e-3, "test data put a potential on the threshold; pick another seed"
    out = []
    for which in (0, 1):
        ws = [w1.copy(), w2.copy()]
        grad = np.zeros_like(ws[which])
        for idx in np.ndindex(grad.shape):
            vals = []
            for sign in (1, -1):
                wp = [w1.copy(), w2.copy()]
                wp[which][idx] += sign * eps
                vals.append(relaxed_loss(*wp, xs, labels, alpha, detach_reset, frozen))
            grad[idx] = (vals[0] - vals[1]) / (2 * eps)
        out.append(grad)
    return out, frozen


def toy_inputs(seed=1, T=25, B=4, n_in=3):
    r = np.random.default_rng(seed)
    return (r.random((T, B, n_in)) < 0.3).astype(np.float32), r.integers(0, 3, B)


@pytest.mark.parametrize("detach_reset", [False, True], ids=["reset-grad", "reset-detached"])
def test_surrogate_gradient_matches_fd_of_relaxed_model(detach_reset):
    xs, labels = toy_inputs()
    net = brainsim.init_states(SNN(3, 5, 3, alpha=4.0, detach_reset=detach_reset, scale=2.0), 4)
    w1, w2 = (np.asarray(net.w1.value, np.float64), np.asarray(net.w2.value, np.float64))
    (fd1, fd2), frozen = fd_grads(w1, w2, xs, labels, 4.0, detach_reset)
    n_spikes = sum((f > 1).sum() for f in frozen)
    assert n_spikes > 10, "the hidden layer must spike for the test to mean anything"
    params = {"w1": net.w1, "w2": net.w2}
    g = brainsim.grad(lambda: loss_of(net, jnp.asarray(xs), labels), params)()
    np.testing.assert_allclose(g["w1"], fd1, rtol=2e-3, atol=2e-5)
    np.testing.assert_allclose(g["w2"], fd2, rtol=2e-3, atol=2e-5)


def test_fd_check_detects_a_different_surrogate():
    """The comparison can fail: the sigmoid slope used by the model matters."""
    xs, labels = toy_inputs()
    net = brainsim.init_states(SNN(3, 5, 3, alpha=8.0, scale=2.0), 4)
    w1, w2 = (np.asarray(net.w1.value, np.float64), np.asarray(net.w2.value, np.float64))
    (fd1, _), _ = fd_grads(w1, w2, xs, labels, 4.0, False)
    g = brainsim.grad(lambda: loss_of(net, jnp.asarray(xs), labels), {"w1": net.w1})()
    assert not np.allclose(g["w1"], fd1, rtol=2e-3, atol=2e-5)


def test_remat_gives_the_same_gradients():
    xs, labels = toy_inputs(T=40, B=8)
    net = brainsim.init_states(SNN(3, 6, 3, scale=2.0), 8)
    params = {"w1": net.w1, "w2": net.w2}
    g0 = brainsim.grad(lambda: loss_of(net, jnp.asarray(xs), labels), params)()
    g1 = brainsim.grad(lambda: loss_of(net, jnp.asarray(xs), labels, remat=True), params)()
    for k in params:
        np.testing.assert_allclose(g0[k], g1[k], rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- learning
def toy_task(n, seed, T=30, n_in=16, n_cls=3):
    """Each class is a fixed latency pattern; samples jitter it and drop 20% of the spikes."""
    proto = np.random.default_rng(99).integers(0, T // 2, (n_cls, n_in))
    r = np.random.default_rng(seed)
    labels = r.integers(0, n_cls, n)
    steps = proto[labels] + r.integers(-2, 3, (n, n_in))
    steps = np.where(r.random((n, n_in)) < 0.2, T, np.clip(steps, 0, T - 1))
    xs = np.zeros((T, n, n_in), np.float32)
    for b in range(n):
        for i in range(n_in):
            if steps[b, i] < T:
                xs[steps[b, i], b, i] = 1.0
    return xs, labels.astype(np.int32)


def test_small_network_learns_a_toy_task():
    xs, ys = toy_task(256, seed=0)
    xt, yt = toy_task(200, seed=1)
    net = brainsim.init_states(SNN(16, 24, 3, scale=1.0, seed=3), 200)
    opt = train.Optimizer(optax.adam(2e-2), net)

    def loss_fn(x, y):
        s, vo = net.run(x)
        return train.max_membrane_cross_entropy(vo, y) + 1e-4 * train.l1_spike_total(s)

    step = train.make_train_step(loss_fn, opt)
    evaluate = brainsim.jit(lambda x, y: train.accuracy(train.max_over_time(net.run(x)[1]), y))
    before = float(evaluate(jnp.asarray(xt), yt))
    brainsim.init_states(net, 64)
    for epoch in range(30):
        for i in range(0, 256, 64):
            step(jnp.asarray(xs[:, i:i + 64]), ys[i:i + 64])
    brainsim.init_states(net, 200)
    after = float(evaluate(jnp.asarray(xt), yt))
    assert before < 0.6
    assert after > 0.9


# ---------------------------------------------------------------- resume
def make_run(seed):
    brainsim.random.seed(seed)
    net = brainsim.init_states(SNN(16, 16, 3, seed=seed), 16)
    opt = train.Optimizer(optax.adam(optax.exponential_decay(1e-2, 3, 0.7)), net)
    data, labels = toy_task(64, seed=5)

    def loss_fn():
        # random mini-batch and input dropout from the global stream: the key must resume too
        idx = brainsim.random.randint(0, 64, (16,))
        x = jnp.asarray(data)[:, idx] * (brainsim.random.rand(30, 16, 16) > 0.1)
        s, vo = net.run(x)
        return train.max_membrane_cross_entropy(vo, jnp.asarray(labels)[idx]) \
            + 1e-4 * train.l2_spikes_per_neuron(s)

    return net, opt, train.make_train_step(loss_fn, opt)


def test_resume_from_checkpoint_continues_bit_for_bit(tmp_path):
    k, m = 4, 5
    net, opt, step = make_run(seed=0)
    for _ in range(k):
        step()
    brainsim.save_checkpoint(tmp_path / "ck.npz", {"model": net, "opt": opt})
    losses_a = [float(step()) for _ in range(m)]

    net2, opt2, step2 = make_run(seed=123)          # different init and key
    brainsim.load_checkpoint(tmp_path / "ck.npz", {"model": net2, "opt": opt2})
    losses_b = [float(step2()) for _ in range(m)]
    assert losses_a == losses_b
    for name, s in net.states(brainsim.ParamState).items():
        np.testing.assert_array_equal(s.value, net2.states()[name].value)
    for a, b in zip(jax.tree_util.tree_leaves(opt.opt_state.value),
                    jax.tree_util.tree_leaves(opt2.opt_state.value)):
        np.testing.assert_array_equal(a, b)
