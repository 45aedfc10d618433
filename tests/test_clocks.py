"""Modules on their own clocks (``dt=`` an integer multiple of the network's), against loops."""
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import neurons, projections

COUNTER = "dx/dt = 0 / second : 1\ndy/dt = 0 / second : 1"
DT = 0.1 * u.ms


class _UserLIF(brainsim.DynamicsModule):
    """A neuron written by a user, with a delta input on V."""

    def __init__(self, n, tau=5. * u.ms):
        super().__init__(n)
        self.tau = tau

    def init_state(self, batch_size=None):
        self.V = brainsim.HiddenState(jnp.zeros(self.batched_shape(batch_size)) * u.mV)
        self.spike = brainsim.ShortTermState(jnp.zeros(self.batched_shape(batch_size)))

    def update(self, x=0. * u.mV):
        dt = brainsim.environ.get_dt()
        V = self.V.value + dt / self.tau * (x - self.V.value)
        V = self.sum_delta_inputs(V)
        spike = (V >= 1. * u.mV).astype(jnp.float32)
        self.V.value = u.math.where(spike > 0, 0. * u.mV, V)
        self.spike.value = spike
        return spike

    def get_spike(self):
        return self.spike.value


def _builtin(dt=None):
    return neurons.LIF(3, tau=5. * u.ms, V_th=1. * u.mV, dt=dt) if dt is not None else \
        neurons.LIF(3, tau=5. * u.ms, V_th=1. * u.mV)


def _user(dt=None):
    return _UserLIF(3, dt=dt) if dt is not None else _UserLIF(3)


def _group(dt=None):
    eqs = "dv/dt = (x - v) / (5*ms) : volt\nx : volt"
    kw = {} if dt is None else {"dt": dt}
    return brainsim.NeuronGroup(3, eqs, threshold="v >= 1*mV", reset="v = 0*mV",
                                method="euler", current="x", **kw)


@pytest.mark.parametrize("make", [_builtin, _user, _group], ids=["LIF", "user", "NeuronGroup"])
def test_slow_module_equals_the_module_run_alone_at_its_dt(make):
    k, T = 3, 240
    x = jnp.array([1.3, 1.6, 2.5]) * u.mV
    state = "V" if make is not _group else "v"
    with brainsim.environ.context(dt=DT):
        slow = brainsim.init_states(make(k * DT))
        out = brainsim.for_loop(lambda: (slow(x), getattr(slow, state).value), length=T)
    with brainsim.environ.context(dt=k * DT):
        alone = brainsim.init_states(make())
        ref = brainsim.for_loop(lambda: (alone(x), getattr(alone, state).value), length=T // k)
    s, v = np.asarray(out[0]), np.asarray(out[1].to_decimal(u.mV))
    s_ref, v_ref = np.asarray(ref[0]), np.asarray(ref[1].to_decimal(u.mV))
    assert s_ref.sum() >= 5
    on = np.arange(T) % k == 0
    np.testing.assert_array_equal(s[on], s_ref)
    np.testing.assert_array_equal(s[~on], 0.)                   # spikes only on its updates
    np.testing.assert_allclose(v, np.repeat(v_ref, k, axis=0), rtol=1e-6, atol=1e-6)


def test_dt_that_is_not_a_multiple_is_refused_naming_module_and_both_dts():
    lif = brainsim.init_states(neurons.LIF(2, dt=0.25 * u.ms))
    before = np.asarray(lif.V.value.to_decimal(u.mV))
    with pytest.raises(ValueError, match=r"LIF 'LIF': dt=0.25 ms must be an integer multiple of "
                                         r"the network's dt=0.1 ms \(their ratio is 2.5\)"):
        with brainsim.environ.context(dt=DT):
            lif(1. * u.mV)
    np.testing.assert_array_equal(np.asarray(lif.V.value.to_decimal(u.mV)), before)
    with pytest.raises(ValueError, match=r"LIF: dt must be a positive scalar time"):
        neurons.LIF(2, dt=0.3)
    with pytest.raises(ValueError, match=r"DeltaProj: dt must be a positive scalar time"):
        projections.DeltaProj(jnp.eye(2), post=lif, dt=-1. * u.ms)
    assert neurons.LIF(2, dt=0.3 * u.ms).dt == 0.3 * u.ms and neurons.LIF(2).dt is None


class _Net(brainsim.DynamicsModule):
    def __init__(self, src, G, projs):
        super().__init__(G.varshape)
        self.src, self.G, self.projs = src, G, projs

    def update(self):
        self.src()
        for p in self.projs:
            p()
        self.G()
        return self.G.x.value


def _volleys(n, T, rng, p=0.3):
    s = rng.random((T, n)) < p
    s[0] = s[-1] = True                   # volleys on the first and on the last step
    idx, steps = np.nonzero(s.T)
    return s.astype(np.float32), idx, steps


@pytest.mark.parametrize("m", [0, 2])
def test_slow_projection_from_fast_source_counts_every_spike(m):
    """Fast source -> projection on dt = 3 dt (delay m of its steps) -> fast group."""
    rng = np.random.default_rng(5)
    k, T = 3, 3 * 12 + 1                  # the last step is an update of the slow projection
    s, idx, steps = _volleys(4, T, rng)
    W = rng.random((4, 3)).astype(np.float32)
    with brainsim.environ.context(dt=DT):
        src = neurons.SpikeTimeGenerator(4, idx, steps * DT)
        G = brainsim.NeuronGroup(3, COUNTER)
        p = projections.DeltaProj(jnp.asarray(W), pre=src, post=G, target="x",
                                  delay=m * k * DT if m else None, dt=k * DT)
        net = brainsim.init_states(_Net(src, G, [p]))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    acc, sent, x, ref = np.zeros(4), {}, np.zeros(3), []
    for n in range(T):                    # the loop: sum the spikes, send them every k steps
        acc += s[n]
        if n % k == 0:
            sent[n], acc = acc.copy(), np.zeros(4)
            if n - m * k in sent:
                x += sent[n - m * k] @ W
        ref.append(x.copy())
    assert max(c.max() for c in sent.values()) >= 2     # a neuron fired twice in one period
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)
    if m == 0:                            # nothing lost, nothing counted twice
        np.testing.assert_allclose(out[-1], s.sum(0) @ W, rtol=1e-5)


@pytest.mark.parametrize("d", [0, 4])
def test_fast_projection_into_slow_group_keeps_every_jump(d):
    rng = np.random.default_rng(6)
    k, T = 4, 41
    s, idx, steps = _volleys(5, T, rng)
    W = rng.random((5, 2)).astype(np.float32)
    with brainsim.environ.context(dt=DT):
        src = neurons.SpikeTimeGenerator(5, idx, steps * DT)
        G = brainsim.NeuronGroup(2, COUNTER, dt=k * DT)
        p = projections.DeltaProj(jnp.asarray(W), pre=src, post=G, target="x",
                                  delay=d * DT if d else None)
        net = brainsim.init_states(_Net(src, G, [p]))
        out = np.asarray(brainsim.for_loop(lambda: net(), length=T))
    total, x, ref = np.zeros(2), np.zeros(2), []
    for n in range(T):
        if n - d >= 0:
            total += s[n - d] @ W
        if n % k == 0:                    # the slow group takes what arrived at its updates
            x = total.copy()
        ref.append(x.copy())
    np.testing.assert_allclose(out, np.asarray(ref), rtol=1e-5, atol=1e-5)
    if d == 0:
        np.testing.assert_allclose(out[-1], s.sum(0) @ W, rtol=1e-5)


@pytest.mark.parametrize("d", [0, 3])
def test_slow_source_reaches_fast_group_once_per_spike(d):
    """Slow built-in source (spike times on its clock) -> fast projection with delay -> fast group."""
    rng = np.random.default_rng(7)
    k, T = 5, 61
    slow_steps = np.arange(0, T, k) // k
    s_slow = rng.random((slow_steps.size, 3)) < 0.5
    s_slow[0] = s_slow[-1] = True
    idx, st = np.nonzero(s_slow.T)
    W = rng.random((3, 2)).astype(np.float32)
    with brainsim.environ.context(dt=DT):
        src = neurons.SpikeTimeGenerator(3, idx, st * k * DT, dt=k * DT)
        G = brainsim.NeuronGroup(2, COUNTER)
        p = projections.DeltaProj(jnp.asarray(W), pre=src, post=G, target="x",
                                  delay=d * DT if d else None)
        net = brainsim.init_states(_Net(src, G, [p]))
        out = brainsim.for_loop(lambda: (net(), src.get_spike()), length=T)
    x_out, spk = np.asarray(out[0]), np.asarray(out[1])
    s = np.zeros((T, 3), np.float32)
    s[::k] = s_slow                       # each spike on the step its source fires, once
    np.testing.assert_array_equal(spk, s)
    x, ref = np.zeros(2), []
    for n in range(T):
        if n - d >= 0:
            x += s[n - d] @ W
        ref.append(x.copy())
    np.testing.assert_allclose(x_out, np.asarray(ref), rtol=1e-5, atol=1e-5)


def test_align_post_into_slow_group_runs_its_synapse_on_the_group_clock():
    """Expon conductance on a slow NeuronGroup: equal to the same network at the slow dt."""
    from brainsim import synapses
    k, T = 2, 40
    eqs = "dv/dt = (-v + I) / (10*ms) : volt\nI : volt"
    W = np.array([[1., 0.5], [0., 2.]], np.float32) * u.mV

    def run(dt_net, dt_group, n_steps, spike_steps):
        with brainsim.environ.context(dt=dt_net):
            src = neurons.SpikeTimeGenerator(2, [0, 1, 0], spike_steps * dt_net)
            kw = {} if dt_group is None else {"dt": dt_group}
            G = brainsim.NeuronGroup(2, eqs, current="I", **kw)
            p = projections.AlignPostProj(W, synapses.Expon(2, 3. * u.ms), synapses.CUBA(),
                                          post=G, pre=src)
            net = brainsim.init_states(_Net2(src, G, p))
            return np.asarray(brainsim.for_loop(lambda: net(), length=n_steps).to_decimal(u.mV))

    # a spike on an update step, and two that arrive between updates of the slow group
    fast = run(DT, k * DT, T, np.array([0, 3, 9]))
    ref = run(k * DT, None, T // k, np.array([0, 2, 5]))   # what the slow group sees, at k dt
    np.testing.assert_allclose(fast[::k], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fast[1::k], ref, rtol=1e-5, atol=1e-6)   # held in between


class _Net2(brainsim.DynamicsModule):
    def __init__(self, src, G, p):
        super().__init__(G.varshape)
        self.src, self.G, self.p = src, G, p

    def update(self):
        self.src()
        self.p()
        self.G()
        return self.G.v.value


def test_slow_module_with_a_batch_axis_equals_each_lane_alone():
    k, T = 3, 90
    xs = jnp.array([[1.3, 1.6, 2.5], [2.2, 1.1, 3.0]]) * u.mV
    with brainsim.environ.context(dt=DT):
        slow = brainsim.init_states(_builtin(k * DT), batch_size=2)
        got = np.asarray(brainsim.for_loop(lambda: slow(xs), length=T))
        lanes = []
        for b in range(2):
            one = brainsim.init_states(_builtin(k * DT))
            lanes.append(np.asarray(brainsim.for_loop(lambda: one(xs[b]), length=T)))
    assert got.sum() >= 5
    np.testing.assert_array_equal(got, np.stack(lanes, axis=1))
