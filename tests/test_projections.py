"""Projections: delays shift arrival exactly, shared synapse state, sparse == dense, align-pre."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import brainsim
from brainsim import event, init, neurons, projections, synapses, train


@pytest.fixture(autouse=True)
def _dt():
    brainsim.environ.set(dt=0.1 * u.ms)


class Net(brainsim.DynamicsModule):
    def __init__(self, src, post, projs):
        super().__init__(post.in_size)
        self.src, self.post, self.projs = src, post, projs

    def update(self):
        self.src()
        for p in self.projs:
            p()
        self.post(0. * u.nA)
        return self.post.V.value


def _post(n=3):
    return neurons.LIF(n, tau=10. * u.ms, V_th=100. * u.mV, V_reset=-60. * u.mV, V_rest=-60. * u.mV,
                       R=100. * u.Mohm)


def _conduct(delay, steps=80):
    src = neurons.SpikeTimeGenerator(2, [0, 1, 0], [0.5, 1.0, 2.0] * u.ms)
    post = _post()
    W = jnp.array([[1., 0., 2.], [0., 3., 0.]]) * u.nS
    p = projections.AlignPostProj(W, synapses.Expon(3, 2. * u.ms), synapses.COBA(0. * u.mV),
                                  post=post, pre=src, delay=delay)
    net = brainsim.init_states(Net(src, post, [p]))
    g = brainsim.for_loop(lambda: (net(), p.syn.g.value)[1], length=steps)
    return np.asarray(g.to_decimal(u.nS))


@pytest.mark.parametrize("d_steps", [1, 7, 20])
def test_delay_shifts_arrival_exactly(d_steps):
    g0 = _conduct(None)
    gd = _conduct(d_steps * 0.1 * u.ms)
    np.testing.assert_allclose(gd[d_steps:], g0[:-d_steps], rtol=1e-6, atol=1e-7)
    assert np.all(gd[:d_steps] == 0.)
    assert g0.max() > 0


def test_delay_not_multiple_of_dt_is_rejected():
    with pytest.raises(ValueError, match="not a multiple of dt"):
        brainsim.init_states(projections.Delay(3, 0.25 * u.ms))
    with pytest.raises(ValueError, match="time quantity"):
        brainsim.init_states(projections.Delay(3, 2.))


def test_hetero_delays_match_python_loop():
    rng = np.random.default_rng(1)
    n_pre, n_post, T = 6, 5, 60
    M = event.random_conn(n_pre, n_post, prob=0.5, seed=3)
    M = M.with_data(jnp.asarray(rng.random(M.nse), jnp.float32))
    d = rng.integers(0, 12, M.nse)
    comm = brainsim.init_states(projections.HeteroDelayCSR(M, d * 0.1 * u.ms))
    spk = (rng.random((T, n_pre)) < 0.3).astype(np.float32)
    got = np.asarray(brainsim.for_loop(lambda s: comm(s), jnp.asarray(spk)))
    rows = np.repeat(np.arange(n_pre), np.diff(np.asarray(M.indptr)))
    cols, w = np.asarray(M.indices), np.asarray(M.data)
    ref = np.zeros((T, n_post))
    for t in range(T):
        for k in range(M.nse):
            if t - d[k] >= 0:
                ref[t, cols[k]] += w[k] * spk[t - d[k], rows[k]]
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_identical_synapses_share_one_state_and_match_merged_weights():
    rng = np.random.default_rng(0)
    W1 = jnp.asarray(rng.random((4, 3)) * (rng.random((4, 3)) < 0.5), jnp.float32) * u.nS
    W2 = jnp.asarray(rng.random((4, 3)) * (rng.random((4, 3)) < 0.5), jnp.float32) * u.nS
    times = [0.3, 0.5, 1.1, 2.0, 2.2] * u.ms

    def build(weights):
        src = neurons.SpikeTimeGenerator(4, [0, 1, 2, 3, 0], times)
        post = _post()
        ps = [projections.AlignPostProj(w, synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV),
                                        post=post, pre=src) for w in weights]
        return brainsim.init_states(Net(src, post, ps)), ps

    net2, ps = build([W1, W2])
    assert not ps[0].shares_synapse and ps[1].shares_synapse and ps[0].syn is ps[1].syn
    assert len([k for k in net2.states() if k.endswith(".g")]) == 1
    v2 = brainsim.for_loop(net2, length=50)
    net1, _ = build([W1 + W2])
    v1 = brainsim.for_loop(net1, length=50)
    np.testing.assert_allclose(v2.to_decimal(u.mV), v1.to_decimal(u.mV), rtol=1e-6)
    # a different time constant is not shared
    post = _post()
    a = projections.AlignPostProj(W1, synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV), post=post)
    b = projections.AlignPostProj(W1, synapses.Expon(3, 4. * u.ms), synapses.COBA(0. * u.mV), post=post)
    assert not b.shares_synapse and a.syn is not b.syn


def test_share_false_keeps_one_state_per_projection_with_the_merged_dynamics():
    rng = np.random.default_rng(1)
    Ws = [jnp.asarray(rng.random((4, 3)) * (rng.random((4, 3)) < 0.5), jnp.float32) * u.nS
          for _ in range(3)]
    times = [0.3, 0.5, 1.1, 2.0, 2.2] * u.ms

    def build(share):
        src = neurons.SpikeTimeGenerator(4, [0, 1, 2, 3, 0], times)
        post = _post()
        ps = [projections.AlignPostProj(w, synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV),
                                        post=post, pre=src, share=share) for w in Ws]
        return brainsim.init_states(Net(src, post, ps)), ps

    merged, pm = build(True)
    alone, pa = build(False)
    assert len([k for k in merged.states() if k.endswith(".g")]) == 1
    assert len([k for k in alone.states() if k.endswith(".g")]) == 3
    assert not any(p.shares_synapse for p in pa) and len({id(p.syn) for p in pa}) == 3
    # an unshared synapse is not offered to later projections either
    post = _post()
    a = projections.AlignPostProj(Ws[0], synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV),
                                  post=post, share=False)
    b = projections.AlignPostProj(Ws[1], synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV),
                                  post=post)
    assert not b.shares_synapse and a.syn is not b.syn
    vm = brainsim.for_loop(merged, length=50)
    va = brainsim.for_loop(alone, length=50)
    assert float(jnp.max(jnp.abs(vm.to_decimal(u.mV) + 60.))) > 1e-3   # the input arrived
    np.testing.assert_allclose(va.to_decimal(u.mV), vm.to_decimal(u.mV), rtol=1e-6)
    with pytest.raises(TypeError, match="share must be True or False"):
        projections.AlignPostProj(Ws[0], synapses.Expon(3, 3. * u.ms), synapses.COBA(0. * u.mV),
                                  post=post, share="no")


@pytest.mark.parametrize("fmt", ["csr", "fixed_pre"])
def test_sparse_comm_equals_dense(fmt):
    M = event.random_conn(20, 10, prob=0.3, seed=2, weight=np.float32(2.) * u.nS) if fmt == "csr" \
        else event.random_conn(20, 10, num=3, seed=2, format="fixed_pre", weight=np.float32(2.) * u.nS)
    dense = jnp.asarray(M.todense().to_decimal(u.nS))
    spk = (np.random.default_rng(0).random((30, 20)) < 0.2).astype(np.float32)

    def run(W):
        post = _post(10)
        p = projections.AlignPostProj(W, synapses.Expon(10, 2. * u.ms), synapses.COBA(0. * u.mV),
                                      post=post)
        brainsim.init_states(post), brainsim.init_states(p)

        def step(s):
            p(s)
            post(0. * u.nA)
            return post.V.value
        return np.asarray(brainsim.for_loop(step, jnp.asarray(spk)).to_decimal(u.mV))

    np.testing.assert_allclose(run(M), run(dense * u.nS), rtol=1e-5)


def test_align_pre_with_stp_and_delta_and_current():
    src = neurons.SpikeTimeGenerator(2, [0, 0, 1], [0.1, 1.1, 0.5] * u.ms)
    post = _post(2)
    W = jnp.array([[1., 0.], [0., 2.]]) * u.nS
    stp = synapses.STP(2, U=0.5)
    p = projections.AlignPreProj([stp, synapses.Expon(2, 2. * u.ms)], W, synapses.COBA(0. * u.mV),
                                 post=post, pre=src)
    net = brainsim.init_states(Net(src, post, [p]))
    g = np.asarray(brainsim.for_loop(lambda: (net(), p.g.value)[1], length=30).to_decimal(u.nS))
    # first spike of neuron 0 releases U = 0.5, the second u+ x- (facilitated, depressed)
    assert g[1, 0] == pytest.approx(0.5, rel=1e-5)
    assert g[11, 0] > 0.5 * np.exp(-1.0 / 2.) and g[5, 1] == pytest.approx(1.0, rel=1e-5)

    post2 = brainsim.init_states(_post(2))
    d = projections.DeltaProj(jnp.array([[1., 2.]]) * u.mV, post=post2)
    d(jnp.ones(1))
    post2(0. * u.nA)
    V = post2.V.value.to_decimal(u.mV)
    np.testing.assert_allclose(V, [-59., -58.], rtol=1e-6)
    with pytest.raises(TypeError, match="post must be"):
        projections.DeltaProj(jnp.ones((1, 2)), post=object())


@pytest.mark.parametrize("sparse", [False, True])
def test_current_proj_delivers_one_step_of_current(sparse):
    W = np.array([[100., 0.], [50., 20.], [0., 300.]], np.float32)       # pA, pre x post
    comm = (event.CSR.from_dense(W * u.pA) if sparse else jnp.asarray(W) * u.pA)
    tau, R, dt = 10., 0.1, 0.1                                            # ms, GOhm, ms
    post = brainsim.init_states(neurons.LIF(2, tau=tau * u.ms, R=R * u.Gohm, V_rest=-60. * u.mV,
                                            V_reset=-70. * u.mV, V_th=0. * u.mV,
                                            V_initializer=init.Constant(-60. * u.mV)))
    p = projections.CurrentProj(comm, post=post)
    s = np.array([1., 1., 0.], np.float32)
    with brainsim.environ.context(dt=dt * u.ms):
        p.update(jnp.asarray(s))
        post()
        V1 = np.asarray(post.V.value.to_decimal(u.mV))
        post()   # the current was for one step only: V relaxes back to rest
        V2 = np.asarray(post.V.value.to_decimal(u.mV))
    I = s @ W                                                             # pA
    decay = np.exp(-dt / tau)
    expected1 = -60. + R * I * (1 - decay)                                # GOhm * pA = mV
    np.testing.assert_allclose(V1, expected1, rtol=1e-5)
    np.testing.assert_allclose(V2, -60. + (expected1 + 60.) * decay, rtol=1e-5)


@pytest.mark.parametrize("W, pre_n, match", [
    (np.ones((3, 4), np.float32), 3, r"comm has shape \(3, 4\) \(pre x post\) but post has 2 neurons"),
    (np.ones((3, 2), np.float32), 5, r"comm has shape \(3, 2\) \(pre x post\) but pre has 5 neurons"),
])
def test_weight_shape_must_fit_pre_and_post(W, pre_n, match):
    post = neurons.LIF(2)
    pre = neurons.LIF(pre_n)
    with pytest.raises(ValueError, match=match):
        projections.CurrentProj(jnp.asarray(W) * u.mV, post=post, pre=pre)
    with pytest.raises(ValueError, match=match):
        projections.AlignPostProj(jnp.asarray(W) * u.nS, synapses.Expon(2), synapses.COBA(0. * u.mV),
                                  post=post, pre=pre)


# --- weights held in a State: read at every step -------------------------------------------

class Sink(brainsim.DynamicsModule):
    """Records the delta input it receives each step (no dynamics of its own)."""

    def init_state(self, batch_size=None):
        self.x = brainsim.ShortTermState(jnp.zeros(self.varshape, jnp.float32))

    def update(self):
        self.x.value = self.sum_delta_inputs(jnp.zeros(self.varshape, jnp.float32))
        return self.x.value


def _spikes(T=25, n=4, seed=0):
    return jnp.asarray((np.random.default_rng(seed).random((T, n)) < 0.3).astype(np.float32))


def _syn_run(comm, spk, kind, pre=None):
    """V of a COBA LIF population driven by ``comm`` through ``kind``, from rest (a jitted run)."""
    post = _post(3)
    if kind == "post":
        p = projections.AlignPostProj(comm, synapses.Expon(3, 2. * u.ms), synapses.COBA(0. * u.mV),
                                      post=post, pre=pre)
    else:
        p = projections.AlignPreProj(synapses.Expon(4, 2. * u.ms), comm, synapses.COBA(0. * u.mV),
                                     post=post)
    brainsim.init_states(post), brainsim.init_states(p)

    def step(s):
        p(s)
        post(0. * u.nA)
        return post.V.value

    jitted = brainsim.jit(lambda: brainsim.for_loop(step, spk))

    def run():
        brainsim.reset_states(post), brainsim.reset_states(p)
        return jitted()
    return run, lambda: np.asarray(run().to_decimal(u.mV))


_W0 = np.random.default_rng(1).random((4, 3)).astype(np.float32) * (
    np.random.default_rng(2).random((4, 3)) < 0.7)


@pytest.mark.parametrize("kind", ["post", "pre"])
@pytest.mark.parametrize("fmt", ["dense", "csr"])
def test_state_comm_is_read_each_run(kind, fmt):
    mat = (lambda W: jnp.asarray(W) * u.nS) if fmt == "dense" else \
        (lambda W: event.CSR.from_dense(W * u.nS))
    w = brainsim.ParamState(mat(_W0))
    spk = _spikes()
    _, run = _syn_run(w, spk, kind)
    v1 = run()
    np.testing.assert_allclose(v1, _syn_run(jnp.asarray(_W0) * u.nS, spk, kind)[1](), rtol=1e-6)
    W1 = 3. * _W0
    w.value = mat(W1)                       # same structure, new weights, between two runs
    v2 = run()
    np.testing.assert_allclose(v2, _syn_run(jnp.asarray(W1) * u.nS, spk, kind)[1](), rtol=1e-6)
    assert np.abs(v2 - v1).max() > 1e-3


def test_state_comm_sees_stdp_updates_inside_the_loop():
    T, n_pre, n_post = 30, 4, 3
    w = brainsim.ParamState(jnp.asarray(_W0))
    sink = Sink(n_post)
    p = projections.DeltaProj(w, post=sink)
    stdp = synapses.STDP(w, n_pre, n_post, A_plus=0.2, A_minus=0.1, tau_pre=2. * u.ms,
                         tau_post=2. * u.ms)
    brainsim.init_states(sink), brainsim.init_states(stdp)
    pre, post_s = _spikes(T, n_pre, 3), _spikes(T, n_post, 4)

    def step(s, so):
        w_seen = w.value
        p(s)
        x = sink()
        stdp(s, so)
        return x, w_seen

    x, w_seen = brainsim.jit(lambda: brainsim.for_loop(step, pre, post_s))()
    x, w_seen = np.asarray(x), np.asarray(w_seen)
    assert np.abs(w_seen[-1] - w_seen[0]).max() > 0.05     # the weights did learn
    ref = np.einsum("ti,tij->tj", np.asarray(pre), w_seen)  # each step uses that step's weights
    np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(w_seen[0], _W0, rtol=1e-7)


def _loss_run(comm, spk, pre=None):
    run, _ = _syn_run(comm, spk, "post", pre)
    return lambda: jnp.mean(run().to_decimal(u.mV) + 60.) ** 2


def test_grad_through_a_run_wrt_the_comm_state_matches_finite_differences():
    spk = _spikes(T=20, seed=5)
    w = brainsim.ParamState(jnp.asarray(_W0) * u.nS)
    loss = _loss_run(w, spk)
    g = np.asarray(brainsim.grad(loss, grad_states=w)().to_decimal(u.nS))
    assert np.abs(g).max() > 0
    rng = np.random.default_rng(7)
    h = 0.05
    for _ in range(2):                      # directional derivatives by central differences
        d = rng.standard_normal(_W0.shape).astype(np.float32)
        w.value = jnp.asarray(_W0 + h * d) * u.nS
        lp = float(loss())
        w.value = jnp.asarray(_W0 - h * d) * u.nS
        lm = float(loss())
        np.testing.assert_allclose(np.sum(g * d), (lp - lm) / (2 * h), rtol=2e-3)


def test_sparse_weights_learned_per_synapse_through_a_callable_comm():
    """The documented wiring for per-synapse learned sparse weights: its gradient is the
    dense gradient at the stored entries, and an optimizer step inside jit changes the next run."""
    spk = _spikes(T=20, seed=5)
    M = event.CSR.from_dense(_W0)
    rows, cols = np.repeat(np.arange(4), np.diff(np.asarray(M.indptr))), np.asarray(M.indices)
    w = brainsim.ParamState(M.data * u.nS)
    comm = lambda s: event.BinaryArray(s) @ M.with_data(w.value)
    loss = _loss_run(comm, spk, pre=neurons.LIF(4))   # pre: the size to find comm's unit with
    wd = brainsim.ParamState(jnp.asarray(_W0) * u.nS)
    dense_loss = _loss_run(wd, spk)
    g = np.asarray(brainsim.grad(loss, grad_states=w)().to_decimal(u.nS))
    gd = np.asarray(brainsim.grad(dense_loss, grad_states=wd)().to_decimal(u.nS))
    np.testing.assert_allclose(g, gd[rows, cols], rtol=1e-5)

    opt = train.Optimizer(optax.sgd(0.1), [w])
    step = train.make_train_step(loss, opt)          # grad + update, compiled by brainsim.jit
    before = float(step())
    W1 = np.zeros_like(_W0)
    W1[rows, cols] = np.asarray(w.value.to_decimal(u.nS))
    wd.value = jnp.asarray(W1) * u.nS
    after = float(loss())
    assert after == pytest.approx(float(dense_loss()), rel=1e-6) and after < before


def test_callable_comm_whose_unit_could_not_be_found_gets_a_clear_error():
    W = jnp.asarray(_W0) * u.nS
    _, run = _syn_run(lambda s: event.BinaryArray(s) @ W, _spikes(), "post")   # no pre
    with pytest.raises(ValueError, match=r"comm returned values in nS but the synapse state "
                                         r"'AlignPostProj.syn' holds plain numbers.*pass pre="):
        run()
    _, run = _syn_run(lambda s: event.BinaryArray(s) @ W, _spikes(), "post", pre=neurons.LIF(4))
    np.testing.assert_allclose(run(), _syn_run(W, _spikes(), "post")[1](), rtol=1e-6)


# --- misuse gets a clear error -------------------------------------------------------------

@pytest.mark.parametrize("comm, err, match", [
    ("weights", TypeError, r"comm got a str .*accepted: a dense \(n_pre, n_post\) array"),
    (2.5, TypeError, r"comm got a float .*brainsim.State"),
    (brainsim.ParamState({"w": jnp.ones((2, 3))}), TypeError,
     r"comm is a ParamState holding a dict, but a State given as comm must hold"),
    (jnp.ones(3), ValueError, r"comm is a dense array of shape \(3,\).*2-D \(n_pre, n_post\)"),
    (brainsim.ParamState(jnp.ones((2, 3, 1))), ValueError, r"comm is a dense array of shape \(2, 3, 1\)"),
])
def test_unusable_comm_is_refused_at_construction(comm, err, match):
    with pytest.raises(err, match=match):
        projections.DeltaProj(comm, post=_post(3))
    with pytest.raises(err, match=match):
        projections.AlignPostProj(comm, synapses.Expon(3), synapses.COBA(0. * u.mV), post=_post(3))


def _csr_with_data(rows, cols, data, shape):
    """A CSR holding ``data`` as given: the constructors refuse NaN, so swap it in afterwards."""
    finite = event.CSR.from_coo(rows, cols, np.ones(len(data), np.float32), shape=shape)
    leaves, tree = jax.tree_util.tree_flatten(finite)
    leaves = [jnp.asarray(data) if np.shape(leaf) == np.shape(data) and
              jnp.issubdtype(leaf.dtype, jnp.floating) else leaf for leaf in leaves]
    return jax.tree_util.tree_unflatten(tree, leaves)


_nan = np.array([[1., np.nan, 0.], [0., 2., 1.]], np.float32)


@pytest.mark.parametrize("comm", [
    jnp.asarray(_nan) * u.mV,
    np.asarray(_nan),
    _csr_with_data([0, 0, 1], [0, 1, 2], np.array([1., np.nan, 2.], np.float32), shape=(2, 3)),
    brainsim.ParamState(jnp.asarray(_nan)),
    jnp.asarray(np.where(np.isnan(_nan), np.inf, _nan)),
], ids=["quantity", "numpy", "csr", "state", "inf"])
def test_nan_weights_are_refused(comm):
    with pytest.raises(ValueError, match=r"DeltaProj: comm holds [01] NaN and [01] infinite value\(s\) "
                                         r"\(first at index \((\d, \d|1,)\)"):
        projections.DeltaProj(comm, post=_post(3))


def test_nan_in_hetero_delay_conn_is_refused_and_traced_weights_are_not_checked():
    M = _csr_with_data([0, 1], [0, 1], np.array([np.nan, 1.], np.float32), shape=(2, 3))
    with pytest.raises(ValueError, match=r"HeteroDelayCSR: conn holds 1 NaN"):
        projections.HeteroDelayCSR(M, 0.2 * u.ms)
    post = _post(3)

    @jax.jit
    def build(W):   # weights traced: their values are unknown, so no check and no error
        p = projections.DeltaProj(W, post=post)
        return jnp.sum(p.comm)
    assert np.isnan(float(build(jnp.asarray(_nan))))


def test_synapse_size_must_match_its_side():
    with pytest.raises(ValueError, match=r"AlignPostProj: syn \(Expon\) has size \(5,\) but post has "
                                         r"size \(3,\).*Expon\(3, \.\.\.\)"):
        projections.AlignPostProj(jnp.ones((4, 3)) * u.nS, synapses.Expon(5), synapses.COBA(0. * u.mV),
                                  post=_post(3))
    with pytest.raises(ValueError, match=r"AlignPreProj: syn\[0\] \(STP\) has size \(2,\) but pre has "
                                         r"size \(4,\)"):
        projections.AlignPreProj([synapses.STP(2), synapses.Expon(4)], jnp.ones((4, 3)) * u.nS,
                                 synapses.COBA(0. * u.mV), post=_post(3))
    with pytest.raises(TypeError, match=r"syn must be a brainsim.synapses model"):
        projections.AlignPostProj(jnp.ones((4, 3)) * u.nS, "expon", synapses.COBA(0. * u.mV),
                                  post=_post(3))
