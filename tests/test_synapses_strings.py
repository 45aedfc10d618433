"""Synapses written as strings: Brian's STDP example against a Python loop and the built-in
STDP, on dense, CSR and just-in-time connectivity; event delivery to post variables."""
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import event, neurons, projections, synapses

STDP_MODEL = """
w : 1
dapre/dt = -apre / taupre : 1 (event-driven)
dapost/dt = -apost / taupost : 1 (event-driven)
"""
ON_PRE = "apre += Apre; w = clip(w + apost, 0, wmax)"
ON_POST = "apost += Apost; w = clip(w + apre, 0, wmax)"
TAU, WMAX, APRE = 20., 0.01, 0.01
APOST = -APRE * 1.05
NS = dict(taupre=TAU * u.ms, taupost=TAU * u.ms, wmax=WMAX, Apre=APRE, Apost=APOST)


class _Net(brainsim.DynamicsModule):
    def __init__(self, pre, post, S):
        super().__init__(1)
        self.pre, self.post, self.S = pre, post, S

    def update(self):
        self.pre()
        self.post()
        self.S()


def _spikes(T, n, parity, rng, p=0.08):
    s = (rng.random((T, n)) < p) & ((np.arange(T) % 2 == parity)[:, None])
    idx, steps = np.nonzero(s.T)
    return s.astype(np.float32), idx, steps


def _conn(fmt, mask):
    rows, cols = np.nonzero(mask)
    if fmt == "dense":
        return jnp.asarray(mask, jnp.float32)
    if fmt == "csr":
        return event.CSR.from_coo(rows, cols, np.float32(1.), shape=mask.shape)
    if fmt == "csc":
        return event.CSC.from_dense(np.asarray(mask, np.float32))
    if fmt == "fixed":                   # the same number of targets in every row
        idx = np.stack([np.nonzero(row)[0] for row in mask])
        return event.FixedNumPerPre((1., idx), shape=mask.shape)
    raise ValueError(fmt)


def _brian_loop(s_pre, s_post, rows, cols, w0, dt):
    e = np.exp(-dt / TAU)
    w = w0.astype(np.float64).copy()
    apre = np.zeros_like(w)
    apost = np.zeros_like(w)
    for n in range(s_pre.shape[0]):
        apre *= e
        apost *= e
        on = s_pre[n, rows] > 0
        apre[on] += APRE
        w[on] = np.clip(w[on] + apost[on], 0, WMAX)
        on = s_post[n, cols] > 0
        apost[on] += APOST
        w[on] = np.clip(w[on] + apre[on], 0, WMAX)
    return w


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc", "fixed", "jitc"])
def test_stdp_strings_match_loop_and_builtin_stdp(fmt):
    rng = np.random.default_rng(0)
    T, n_pre, n_post, dt = 600, 6, 4, 0.1
    s_pre, ipre, tpre = _spikes(T, n_pre, 0, rng)
    s_post, ipost, tpost = _spikes(T, n_post, 1, rng)   # never on the same step as pre
    if fmt == "jitc":
        conn = event.JITCScalarR((1., 0.6, 3), shape=(n_pre, n_post))
        mask = np.asarray(conn.todense()) != 0
    elif fmt == "fixed":
        mask = np.zeros((n_pre, n_post), bool)
        for i in range(n_pre):
            mask[i, rng.permutation(n_post)[:2]] = True
        conn = _conn(fmt, mask)
    else:
        mask = rng.random((n_pre, n_post)) < 0.6
        conn = _conn(fmt, mask)
    rows, cols = np.nonzero(mask)
    w0 = rng.random(rows.size).astype(np.float32) * WMAX
    with brainsim.environ.context(dt=dt * u.ms):
        pre = neurons.SpikeTimeGenerator(n_pre, ipre, tpre * dt * u.ms)
        post = neurons.SpikeTimeGenerator(n_post, ipost, tpost * dt * u.ms)
        S = brainsim.Synapses(pre, post, conn, model=STDP_MODEL, on_pre=ON_PRE,
                              on_post=ON_POST, namespace=NS)
        S.w = jnp.asarray(w0)
        net = brainsim.init_states(_Net(pre, post, S))
        brainsim.for_loop(lambda: net(), length=T)
        W = np.zeros((n_pre, n_post), np.float32)
        W[rows, cols] = w0
        Wst = brainsim.ParamState(jnp.asarray(W))
        stdp = brainsim.init_states(synapses.STDP(Wst, n_pre, n_post, tau_pre=TAU * u.ms,
                                                  tau_post=TAU * u.ms, A_plus=APRE,
                                                  A_minus=-APOST, w_min=0., w_max=WMAX))
        brainsim.for_loop(lambda a, b: stdp(a, b), jnp.asarray(s_pre), jnp.asarray(s_post))
    got = np.asarray(S.w.value)
    ref = _brian_loop(s_pre, s_post, rows, cols, w0, dt)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(got, np.asarray(Wst.value)[rows, cols], rtol=1e-4, atol=1e-7)
    assert np.abs(got - w0).max() > WMAX / 10       # the weights did change
    assert np.any(got == 0.) or np.any(got == np.float32(WMAX))


def test_on_pre_delivers_to_post_variable_with_delay():
    rng = np.random.default_rng(1)
    T, dt = 30, 0.1
    s_pre, ipre, tpre = _spikes(T, 3, 0, rng, p=0.4)
    mask = np.array([[1, 0], [1, 1], [0, 1]], bool)
    with brainsim.environ.context(dt=dt * u.ms):
        pre = neurons.SpikeTimeGenerator(3, ipre, tpre * dt * u.ms)
        post = brainsim.NeuronGroup(2, "dge/dt = 0 / second : volt")
        S = brainsim.Synapses(pre, post, jnp.asarray(mask, jnp.float32), model="w : volt",
                              on_pre="ge += 2 * w", delay=2 * dt * u.ms)
        S.w = jnp.array([1., 2., 3., 4.]) * u.mV

        class Net(brainsim.DynamicsModule):
            def __init__(self):
                super().__init__(1)
                self.pre, self.S, self.post = pre, S, post

            def update(self):
                self.pre()
                self.S()
                self.post()
                return self.post.ge.value.to_decimal(u.mV)

        net = brainsim.init_states(Net())
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    W = np.array([[1., 0.], [2., 3.], [0., 4.]])
    ref = np.cumsum(np.concatenate([np.zeros((2, 3)), s_pre[:-2]]) @ (2 * W), axis=0)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


def test_synapse_statement_errors():
    pre = neurons.SpikeTimeGenerator(2, [0], [0.] * u.ms)
    post = brainsim.NeuronGroup(2, "dge/dt = -ge / (5*ms) : volt")
    with pytest.raises(ValueError, match=r"Inconsistent units in on_pre statement for 'ge'.*"
                                         r"increment has dimensionless"):
        brainsim.Synapses(pre, post, jnp.ones((2, 2)), model="w : 1", on_pre="ge += w")
    with pytest.raises(ValueError, match=r"on_pre may only add to the post variable 'ge'"):
        brainsim.Synapses(pre, post, jnp.ones((2, 2)), model="w : volt", on_pre="ge = w")
    with pytest.raises(ValueError, match=r"The identifier 'wmx'.*Did you mean 'wmax'\?"):
        brainsim.Synapses(pre, post, jnp.ones((2, 2)), model="w : 1",
                          on_pre="w = clip(w, 0, wmx)", namespace={"wmax": 1.})
    with pytest.raises(ValueError, match=r"conn has shape \(3, 2\) but pre x post is \(2, 2\)"):
        brainsim.Synapses(pre, post, jnp.ones((3, 2)), model="w : 1")


# Brian2's examples/synapses/STDP.py (Song, Miller & Abbott 2000), shortened
NEURON = """
dv/dt = (ge * (Ee - v) + El - v) / taum : volt
dge/dt = -ge / taue : 1
"""
NEURON_NS = dict(taum=10. * u.ms, Ee=0. * u.mV, vt=-54. * u.mV, vr=-60. * u.mV,
                 El=-74. * u.mV, taue=5. * u.ms)
GMAX = .01


class _SongNet(brainsim.DynamicsModule):
    def __init__(self, N, strings, w0):
        super().__init__(1)
        self.inp = neurons.PoissonSpike(N, freqs=15. * u.Hz)
        self.neu = brainsim.NeuronGroup(1, NEURON, threshold="v > vt", reset="v = vr",
                                        method="euler", namespace=NEURON_NS)
        self.neu.v = -74. * u.mV
        self.strings = strings
        if strings:
            ns = dict(taupre=20. * u.ms, taupost=20. * u.ms, gmax=GMAX, dApre=.01 * GMAX,
                      dApost=-.01 * 1.05 * GMAX)
            self.S = brainsim.Synapses(
                self.inp, self.neu, jnp.ones((N, 1)),
                model="w : 1\ndApre/dt = -Apre / taupre : 1 (event-driven)\n"
                      "dApost/dt = -Apost / taupost : 1 (event-driven)",
                on_pre="ge += w; Apre += dApre; w = clip(w + Apost, 0, gmax)",
                on_post="Apost += dApost; w = clip(w + Apre, 0, gmax)", namespace=ns)
            self.S.w = w0
        else:
            self.W = brainsim.ParamState(w0[:, None])
            self.proj = projections.DeltaProj(lambda s: event.BinaryArray(s) @ self.W.value,
                                              pre=self.inp, post=self.neu, target="ge")
            self.stdp = synapses.STDP(self.W, N, 1, A_plus=.01 * GMAX, A_minus=.0105 * GMAX,
                                      w_min=0., w_max=GMAX)

    def update(self):
        self.inp()
        if self.strings:
            self.S()
        else:
            self.proj()
            self.stdp(self.inp.spike.value, self.neu.spike.value)
        self.neu()

    def weights(self):
        return np.asarray(self.S.w.value if self.strings else self.W.value[:, 0])


@pytest.mark.slow
def test_song_stdp_weight_distribution_matches_builtin_stdp():
    N, steps = 1000, 200000           # 20 s at 0.1 ms
    w0 = jnp.asarray(np.random.default_rng(0).random(N), jnp.float32) * GMAX
    hists = []
    for strings in (True, False):
        brainsim.random.seed(0)
        with brainsim.environ.context(dt=0.1 * u.ms):
            net = brainsim.init_states(_SongNet(N, strings, w0))
            brainsim.for_loop(lambda: net(), length=steps)
        w = net.weights() / GMAX
        hists.append(np.histogram(w, bins=10, range=(0., 1.))[0] / N)
    # the weights have moved from uniform towards the bounds, alike in both
    assert hists[0][0] + hists[0][-1] > 0.25      # uniform: 0.2
    assert np.abs(hists[0] - hists[1]).sum() < 0.15, hists


def test_synapses_between_subgroups_equal_padded_dense():
    rng = np.random.default_rng(5)
    T, dt = 25, 0.1
    s_pre, ipre, tpre = _spikes(T, 5, 0, rng, p=0.5)
    mask = rng.random((2, 3)) < 0.7
    w = rng.random(mask.sum()).astype(np.float32)
    with brainsim.environ.context(dt=dt * u.ms):
        pre = neurons.SpikeTimeGenerator(5, ipre, tpre * dt * u.ms)
        post = brainsim.NeuronGroup(6, "dx/dt = 0 / second : 1")
        S = brainsim.Synapses(pre[1:3], post[2:5], jnp.asarray(mask, jnp.float32),
                              model="w : 1", on_pre="x += w")
        S.w = jnp.asarray(w)

        class Net(brainsim.DynamicsModule):
            def __init__(self):
                super().__init__(1)
                self.pre, self.S, self.post = pre, S, post

            def update(self):
                self.pre()
                self.S()
                self.post()
                return self.post.x.value

        net = brainsim.init_states(Net())
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    W = np.zeros((5, 6), np.float32)
    r, c = np.nonzero(mask)
    W[1 + r, 2 + c] = w
    np.testing.assert_allclose(out, np.cumsum(s_pre @ W, axis=0), rtol=1e-5, atol=1e-6)


def test_statements_read_pre_and_post_variables():
    pre = brainsim.NeuronGroup(3, "dy/dt = 0 / second : 1", threshold="y > 0")
    pre.y = jnp.array([1., 2., 3.])
    post = brainsim.NeuronGroup(2, "dx/dt = 0 / second : 1\ndz/dt = 0 / second : 1")
    post.z = jnp.array([10., 20.])
    S = brainsim.Synapses(pre[1:], post, jnp.ones((2, 2)), model="w : 1",
                          on_pre="w = y_pre * z_post; x += w")

    class Net(brainsim.DynamicsModule):
        def __init__(self):
            super().__init__(1)
            self.pre, self.S, self.post = pre, S, post

        def update(self):
            self.pre()
            self.S()
            self.post()

    net = brainsim.init_states(Net())
    with brainsim.environ.context(dt=0.1 * u.ms):
        net()                       # pre fires (y > 0) and S, updated after it, delivers
        net()                       # once more
    np.testing.assert_allclose(np.asarray(S.w.value), [20., 40., 30., 60.])
    np.testing.assert_allclose(np.asarray(post.x.value), [100., 200.])   # 2 x (20+30, 40+60)


def _volleys(T, n, rng, p=0.3):
    s = rng.random((T, n)) < p
    s[0] = s[-1] = True                   # volleys on the first and on the last step
    idx, steps = np.nonzero(s.T)
    return s.astype(np.float32), idx, steps


class _SubNet(brainsim.DynamicsModule):
    def __init__(self, src, S, G):
        super().__init__(1)
        self.src, self.S, self.G = src, S, G

    def update(self):
        self.src()
        self.S()
        self.G()
        return self.G.x.value


@pytest.mark.parametrize("kind", ["none", "homogeneous", "per-synapse"])
def test_synapses_from_subgroups_with_delays_match_loop(kind):
    rng = np.random.default_rng(11)
    T, dt, a, b = 30, 0.1, 2, 6
    s, idx, steps = _volleys(T, 8, rng)
    mask = rng.random((b - a, 3)) < 0.7
    rows, cols = np.nonzero(mask)
    w = rng.random(rows.size).astype(np.float32)
    d = {"none": np.zeros(rows.size, int), "homogeneous": np.full(rows.size, 3),
         "per-synapse": rng.integers(0, 5, rows.size)}[kind]
    d[0] = 0 if kind == "per-synapse" else d[0]
    delay = {"none": None, "homogeneous": 3 * dt * u.ms, "per-synapse": d * dt * u.ms}[kind]
    with brainsim.environ.context(dt=dt * u.ms):
        src = neurons.SpikeTimeGenerator(8, idx, steps * dt * u.ms)
        G = brainsim.NeuronGroup(5, "dx/dt = 0 / second : 1")
        S = brainsim.Synapses(src[a:b], G[1:4], jnp.asarray(mask, jnp.float32), model="w : 1",
                              on_pre="x += w", delay=delay)
        S.w = jnp.asarray(w)
        net = brainsim.init_states(_SubNet(src, S, G))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    x, ref = np.zeros(5), []
    for n in range(T):                    # synapse k delivers the spike of step n - d_k
        for k in range(rows.size):
            if n - d[k] >= 0:
                x[1 + cols[k]] += w[k] * s[n - d[k], a + rows[k]]
        ref.append(x.copy())
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)
    if kind == "none":                    # every spike once, the last volley included
        W = np.zeros((8, 5))
        W[a + rows, 1 + cols] = w
        np.testing.assert_allclose(out[-1], s.sum(0) @ W, rtol=1e-5)


def test_synapses_per_synapse_delay_shape_is_checked():
    pre = neurons.SpikeTimeGenerator(2, [0], [0.] * u.ms)
    post = brainsim.NeuronGroup(2, "dx/dt = 0 / second : 1")
    with pytest.raises(ValueError, match=r"per-synapse delay must have shape \(4,\), one per "
                                         r"synapse, got shape \(3,\)"):
        brainsim.Synapses(pre, post, jnp.ones((2, 2)), model="w : 1", on_pre="x += w",
                          delay=jnp.array([1., 2., 3.]) * u.ms)


def test_synapses_on_a_slow_clock_run_on_pre_once_per_spike():
    """Synapses with dt = 3 dt: spikes of the steps in between are counted, none lost."""
    rng = np.random.default_rng(12)
    k, T, dt = 3, 31, 0.1
    s, idx, steps = _volleys(T, 3, rng, p=0.4)
    mask = np.array([[1, 0], [1, 1], [0, 1]], bool)
    rows, cols = np.nonzero(mask)
    with brainsim.environ.context(dt=dt * u.ms):
        src = neurons.SpikeTimeGenerator(3, idx, steps * dt * u.ms)
        G = brainsim.NeuronGroup(2, "dx/dt = 0 / second : 1")
        S = brainsim.Synapses(src, G, jnp.asarray(mask, jnp.float32), model="w : 1",
                              on_pre="x += w; w += 1", dt=k * dt * u.ms)
        S.w = jnp.arange(4.)
        net = brainsim.init_states(_SubNet(src, S, G))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    w, acc, x, ref, most = np.arange(4.), np.zeros(3), np.zeros(2), [], 0
    for n in range(T):
        acc += s[n]
        if n % k == 0:                    # at its update: on_pre once per counted spike
            most = max(most, acc.max())
            for syn in range(rows.size):
                for _ in range(int(acc[rows[syn]])):
                    x[cols[syn]] += w[syn]
                    w[syn] += 1
            acc[:] = 0
        ref.append(x.copy())
    assert most >= 2                      # a neuron fired twice between two updates
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(S.w.value), w, rtol=1e-6)
