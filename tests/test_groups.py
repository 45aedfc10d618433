"""Subgroups, delivery to a named variable, TimedArray, clocks, and CUBA written with strings."""
import importlib.util
import os
from pathlib import Path

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import event, neurons, projections
from brainsim.runner import Runner, SpikeMonitor

COUNTER = "dx/dt = 0 / second : 1\ndy/dt = 0 / second : 1"


def _volleys(n_src, T, rng):
    """Random spikes, plus every neuron firing on the first and on the last step."""
    s = rng.random((T, n_src)) < 0.2
    s[0] = s[-1] = True
    idx, steps = np.nonzero(s.T)
    return s.astype(np.float32), idx, steps


class _Net(brainsim.DynamicsModule):
    def __init__(self, src, G, projs):
        super().__init__(G.varshape)
        self.src, self.G, self.projs = src, G, projs

    def update(self):
        self.src()
        for p in self.projs:
            p()
        self.G()
        return jnp.stack([self.G.x.value, self.G.y.value])


@pytest.mark.parametrize("delay_steps", [0, 3])
def test_subgroup_homogeneous_delay_matches_loop(delay_steps):
    rng = np.random.default_rng(1)
    T, dt, a, b = 40, 0.1 * u.ms, 3, 7
    s, idx, steps = _volleys(8, T, rng)
    W = rng.random((b - a, 5)).astype(np.float32)
    W2 = rng.random((b - a, 2)).astype(np.float32)
    with brainsim.environ.context(dt=dt):
        src = neurons.SpikeTimeGenerator(8, idx, steps * dt)
        G = brainsim.NeuronGroup(5, COUNTER)
        delay = delay_steps * dt if delay_steps else None
        p1 = projections.DeltaProj(jnp.asarray(W), pre=src[a:b], post=G, target="x", delay=delay)
        p2 = projections.DeltaProj(jnp.asarray(W2), pre=src[a:b], post=G[1:3], target="y",
                                   delay=delay)
        net = brainsim.init_states(_Net(src, G, [p1, p2]))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    x = np.zeros(5)
    y = np.zeros(5)
    ref = []
    for n in range(T):                    # the loop: what arrives at step n left at n - D
        m = n - delay_steps
        if m >= 0:
            x += s[m, a:b] @ W
            y[1:3] += s[m, a:b] @ W2
        ref.append(np.stack([x.copy(), y.copy()]))
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_subgroup_per_synapse_delays_match_loop():
    rng = np.random.default_rng(2)
    T, dt, a, b = 30, 0.1 * u.ms, 2, 6
    s, idx, steps = _volleys(7, T, rng)
    pre, post = np.nonzero(rng.random((b - a, 4)) < 0.7)
    w = rng.random(pre.size).astype(np.float32)
    d = rng.integers(0, 5, pre.size)
    d[0] = 0
    csr = event.CSR.from_coo(pre, post, w, shape=(b - a, 4))
    order = np.lexsort((post, pre))      # CSR order: by row, then column
    with brainsim.environ.context(dt=dt):
        src = neurons.SpikeTimeGenerator(7, idx, steps * dt)
        G = brainsim.NeuronGroup(4, COUNTER)
        comm = projections.HeteroDelayCSR(csr, d[order] * dt)
        p = projections.DeltaProj(comm, pre=src[a:b], post=G, target="x")
        net = brainsim.init_states(_Net(src, G, [p]))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))[:, 0]
    x, ref = np.zeros(4), []
    for n in range(T):
        for k in range(pre.size):
            if n - d[k] >= 0:
                x[post[k]] += w[k] * s[n - d[k], a + pre[k]]
        ref.append(x.copy())
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_subgroup_views_share_parent_states_and_monitor():
    g = brainsim.NeuronGroup(6, "dv/dt = (I - v) / (10*ms) : volt\nI : volt",
                             threshold="v > 1*mV", reset="v = 0*mV")
    g.I = jnp.linspace(0., 5., 6) * u.mV
    brainsim.init_states(g)
    sub = g[2:5]
    assert sub.varshape == (3,) and repr(sub) == "NeuronGroup[2:5]"
    brainsim.environ.set(dt=0.1 * u.ms)
    res = Runner(g, monitors={"all": SpikeMonitor(g), "sub": SpikeMonitor(sub)},
                 progress=False).run(30. * u.ms)
    np.testing.assert_array_equal(res["sub"].dense(), res["all"].dense()[:, 2:5])
    assert res["sub"].count > 0
    np.testing.assert_array_equal(np.asarray(sub.v.value.mantissa),
                                  np.asarray(g.v.value.mantissa)[2:5])
    with pytest.raises(TypeError, match="view"):
        sub.v.value = jnp.zeros(3) * u.mV


def test_builtin_neurons_have_subgroups():
    P = brainsim.init_states(neurons.LIF(10))
    assert P[:8].get_spike().shape == (8,)
    assert P[2:][1:3].start == 3
    with pytest.raises(ValueError, match="contiguous, non-empty slice"):
        P[::2]


def test_target_errors():
    g = brainsim.NeuronGroup(2, "dge/dt = -ge / (5*ms) : volt")
    with pytest.raises(ValueError, match=r"target 'gee' is not a differential variable.*"
                                         r"Did you mean 'ge'\?"):
        projections.DeltaProj(jnp.ones((1, 2)) * u.mV, post=g, target="gee")
    with pytest.raises(TypeError, match=r"target='ge' names a variable of a brainsim.NeuronGroup"):
        projections.DeltaProj(jnp.ones((1, 2)) * u.mV, post=neurons.LIF(2), target="ge")
    p = projections.DeltaProj(jnp.ones((1, 2)) * u.nS, post=g, target="ge")
    brainsim.init_states(g)
    with pytest.raises(brainsim.UnitMismatchError, match=r"a jump delivered to 'ge'"):
        with brainsim.environ.context(dt=0.1 * u.ms):
            p.update(jnp.ones(1))
            g()


# -- TimedArray ------------------------------------------------------------------------------
def test_timed_array_holds_values_over_its_steps():
    stim = brainsim.TimedArray(jnp.array([1., 2., 3.]) * u.mV, dt=1. * u.ms)
    t = jnp.arange(0., 40., 1.) * 0.1 * u.ms
    got = stim(t).to_decimal(u.mV)
    want = np.array([1.] * 10 + [2.] * 10 + [3.] * 20)
    np.testing.assert_array_equal(np.asarray(got), want)
    assert float(stim(-1. * u.ms).to_decimal(u.mV)) == 1.
    with pytest.raises(ValueError, match="dt must be a positive time"):
        brainsim.TimedArray([1.], dt=1.)
    with pytest.raises(ValueError, match=r"shape \(T,\) or \(T, n\)"):
        brainsim.TimedArray(jnp.zeros((2, 2, 2)), dt=1. * u.ms)


@pytest.mark.parametrize("two_d", [False, True], ids=["1d", "2d"])
def test_timed_array_in_model_string_matches_loop(two_d):
    vals = np.array([0., 4., 1., 3.], np.float32)
    if two_d:
        vals = np.stack([vals, 2 * vals, -vals], 1)
    stim = brainsim.TimedArray(vals * u.mV, dt=0.5 * u.ms)
    g = brainsim.NeuronGroup(3, "dv/dt = (stim(t) - v) / (2*ms) : volt", method="euler",
                             namespace={"stim": stim})
    brainsim.init_states(g)
    with brainsim.environ.context(dt=0.1 * u.ms):
        out = np.asarray(brainsim.for_loop(lambda: (g(), g.v.value.to_decimal(u.mV))[1],
                                           length=30))
    v, ref = np.zeros(3), []
    for n in range(30):
        k = min(int(n * 0.1 / 0.5 + 1e-6), len(vals) - 1)
        v = v + 0.1 * (vals[k] - v) / 2.
        ref.append(v.copy())
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-6)


def test_timed_array_as_runner_input():
    stim = brainsim.TimedArray(jnp.array([0., 30., 0.]) * u.mV, dt=10. * u.ms)
    brainsim.environ.set(dt=0.1 * u.ms)
    n = brainsim.init_states(neurons.LIF(1))
    res = Runner(n, monitors={"s": SpikeMonitor(n)}, inputs=stim, progress=False).run(30. * u.ms)
    t_spk = np.nonzero(res["s"].dense()[:, 0])[0] * 0.1
    assert t_spk.size > 3 and t_spk.min() >= 10. and t_spk.max() < 20.


def test_timed_array_unit_checked_in_model():
    stim = brainsim.TimedArray(jnp.array([1., 2.]) * u.nA, dt=1. * u.ms)
    with pytest.raises(brainsim.UnitMismatchError, match=r"the terms of.*differ in dimension"):
        brainsim.NeuronGroup(1, "dv/dt = (stim(t) - v) / (2*ms) : volt",
                             namespace={"stim": stim})


# -- CUBA -------------------------------------------------------------------------------------
def _cuba():
    path = Path(__file__).resolve().parents[1] / "examples" / "cuba_equations.py"
    spec = importlib.util.spec_from_file_location("cuba_equations", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cuba_equations_example_rate():
    rate = float(_cuba().simulate(1000. * u.ms, seed=0, progress=False).to_decimal(u.Hz))
    assert rate == pytest.approx(5.6, abs=0.3)


def test_cuba_against_brian2():
    if not os.environ.get("BRIAN2_PYTHON"):
        pytest.skip("BRIAN2_PYTHON is not set (the python of a venv with brian2 installed)")
    mod = _cuba()
    ours = float(mod.simulate(1000. * u.ms, seed=0, progress=False).to_decimal(u.Hz))
    theirs = mod.brian2_rate(1000.)
    assert ours == pytest.approx(theirs, abs=0.5)


# -- clocks -------------------------------------------------------------------------------------
def test_slow_clock_group_keeps_every_jump_from_a_fast_source():
    rng = np.random.default_rng(3)
    T, dt, k = 31, 0.1 * u.ms, 3
    s, idx, steps = _volleys(4, T, rng)
    W = rng.random((4, 3)).astype(np.float32)
    with brainsim.environ.context(dt=dt):
        src = neurons.SpikeTimeGenerator(4, idx, steps * dt)
        G = brainsim.NeuronGroup(3, COUNTER, dt=k * dt)
        p = projections.DeltaProj(jnp.asarray(W), pre=src, post=G, target="x")
        net = brainsim.init_states(_Net(src, G, [p]))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))[:, 0]
    total, x, ref = np.zeros(3), np.zeros(3), []
    for n in range(T):
        total += s[n] @ W
        if n % k == 0:                    # the slow group runs on steps 0, k, 2k, ...
            x = total.copy()
        ref.append(x.copy())
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_fast_group_receives_each_spike_of_a_slow_group_once():
    T, dt, k = 60, 0.1 * u.ms, 5
    with brainsim.environ.context(dt=dt):
        slow = brainsim.NeuronGroup(2, "dv/dt = rate : 1\nrate : hertz", threshold="v > 1",
                                    reset="v = 0", method="euler", dt=k * dt)
        slow.rate = jnp.array([1., 0.6]) / u.ms
        fast = brainsim.NeuronGroup(2, COUNTER)
        p = projections.DeltaProj(jnp.eye(2), pre=slow, post=fast, target="x")
        net = brainsim.init_states(_Net(slow, fast, [p]))
        out = np.asarray(brainsim.for_loop(lambda: (net(), slow.spike.value)[1], length=T))
        counts = np.asarray(fast.x.value)
    v, spikes = np.zeros(2), np.zeros((T, 2))
    for n in range(T):                    # the slow group's own Euler steps, every k steps
        if n % k == 0:
            v = v + k * 0.1 * np.array([1., 0.6])
            spikes[n] = v > 1
            v[v > 1] = 0.
    np.testing.assert_array_equal(out, spikes)
    assert spikes.sum() > 4
    np.testing.assert_allclose(counts, spikes.sum(0))


def test_clock_must_be_a_multiple_of_dt():
    g = brainsim.init_states(brainsim.NeuronGroup(1, COUNTER, dt=0.25 * u.ms))
    with pytest.raises(ValueError, match=r"dt=0.25 ms must be an integer multiple of the "
                                         r"network's dt=0.1 ms"):
        with brainsim.environ.context(dt=0.1 * u.ms):
            g()


def test_builtin_subgroup_as_post_of_align_post_equals_padded_weights():
    from brainsim import synapses
    rng = np.random.default_rng(4)
    T, dt = 80, 0.1 * u.ms
    s, idx, steps = _volleys(3, T, rng)
    W = rng.random((3, 2)).astype(np.float32) * 20.
    Wpad = np.zeros((3, 5), np.float32)
    Wpad[:, 2:4] = W
    outs = []
    for comm, post_of in ((W, lambda P: P[2:4]), (Wpad, lambda P: P)):
        with brainsim.environ.context(dt=dt):
            src = neurons.SpikeTimeGenerator(3, idx, steps * dt)
            P = neurons.LIF(5, tau=5. * u.ms, V_th=100. * u.mV, R=100. * u.Mohm,
                            V_initializer=-60. * u.mV, V_rest=-60. * u.mV, V_reset=-60. * u.mV)
            post = post_of(P)
            proj = projections.AlignPostProj(
                jnp.asarray(comm) * u.nS, synapses.Expon(post.varshape, 2. * u.ms),
                synapses.COBA(E=0. * u.mV), post=post, pre=src)

            class Net(brainsim.DynamicsModule):
                def __init__(self):
                    super().__init__(5)
                    self.src, self.P, self.proj = src, P, proj

                def update(self):
                    self.src()
                    self.proj()
                    self.P(0. * u.nA)
                    return self.P.V.value.to_decimal(u.mV)

            net = brainsim.init_states(Net())
            outs.append(np.asarray(brainsim.for_loop(lambda: net(), length=T)))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6, atol=1e-5)
    assert outs[0][:, 2:4].max() > -59.      # the inputs arrived
    np.testing.assert_allclose(outs[0][:, [0, 1, 4]], -60., atol=1e-5)
