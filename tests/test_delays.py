"""Delays: exact arrival at the dt of init_states, and a clear error when dt changes afterwards."""
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import event, projections


class Sink(brainsim.DynamicsModule):
    """Records the delta input it receives each step (no dynamics of its own)."""

    def init_state(self, batch_size=None):
        self.x = brainsim.ShortTermState(jnp.zeros(self.varshape, jnp.float32))

    def update(self):
        self.x.value = self.sum_delta_inputs(jnp.zeros(self.varshape, jnp.float32))
        return self.x.value


W = np.array([[1., 0., 2.], [0., 3., 0.]], np.float32)   # pre x post


def _build(kind, delay):
    sink = Sink(3)
    if kind == "ring":
        p = projections.DeltaProj(jnp.asarray(W), post=sink, delay=delay)
    else:
        M = event.CSR.from_dense(W)
        p = projections.DeltaProj(projections.HeteroDelayCSR(M, delay), post=sink)
    net = brainsim.init_states(brainsim.DynamicsModule(3))
    net.sink, net.p = sink, p
    return brainsim.init_states(net)


def _run(net, spikes):
    def step(s):
        net.p(s)
        return net.sink()
    return np.asarray(brainsim.for_loop(step, jnp.asarray(spikes)))


def _volleys(T, D):
    """Spikes of both neurons at step 0 and at the step that arrives at the last step."""
    s = np.zeros((T, 2), np.float32)
    s[0] = s[T - 1 - D] = 1.
    return s


@pytest.mark.parametrize("kind", ["ring", "hetero"])
def test_delay_is_exact_at_the_dt_of_init(kind):
    brainsim.environ.set(dt=0.1 * u.ms)
    net = _build(kind, 1.5 * u.ms)
    T, D = 40, 15
    got = _run(net, _volleys(T, D))
    ref = np.zeros((T, 3), np.float32)
    ref[D] = ref[T - 1] = W.sum(0)                       # both volleys, 1.5 ms later
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("kind", ["ring", "hetero"])
@pytest.mark.parametrize("new_dt", [0.2, 0.05])
def test_dt_change_after_init_states_is_refused(kind, new_dt):
    brainsim.environ.set(dt=0.1 * u.ms)
    net = _build(kind, 1.5 * u.ms)
    buf = {k: np.asarray(s.value) for k, s in net.states().items()}
    brainsim.environ.set(dt=new_dt * u.ms)
    match = (rf"sized at init_states for dt=0.1 ms, but dt is now {new_dt} ms.*"
             r"brainsim.init_states\(model\) again")
    with pytest.raises(ValueError, match=match):
        _run(net, _volleys(40, 15))
    with pytest.raises(ValueError, match=match):        # eager step and jit as well
        net.p(jnp.ones(2))
    with pytest.raises(ValueError, match=match):
        brainsim.jit(lambda: net.p(jnp.ones(2)))()
    for k, s in net.states().items():                   # the failed runs changed nothing
        np.testing.assert_array_equal(np.asarray(s.value), buf[k])


@pytest.mark.parametrize("kind", ["ring", "hetero"])
def test_init_states_again_after_dt_change_gives_the_delay_in_time(kind):
    brainsim.environ.set(dt=0.1 * u.ms)
    net = _build(kind, 1.5 * u.ms)
    _run(net, _volleys(40, 15))                         # compiled at the old dt
    brainsim.environ.set(dt=0.05 * u.ms)
    brainsim.init_states(net)
    T, D = 60, 30                                       # 1.5 ms at 0.05 ms
    got = _run(net, _volleys(T, D))
    ref = np.zeros((T, 3), np.float32)
    ref[D] = ref[T - 1] = W.sum(0)
    np.testing.assert_array_equal(got, ref)
    # a delay that is no multiple of the new dt cannot be re-sized: said at init
    brainsim.environ.set(dt=0.2 * u.ms)
    with pytest.raises(ValueError, match="not a multiple of dt"):
        brainsim.init_states(net)


def test_zero_delay_does_not_depend_on_dt():
    brainsim.environ.set(dt=0.1 * u.ms)
    d = brainsim.init_states(projections.Delay(2, 0. * u.ms))
    brainsim.environ.set(dt=0.3 * u.ms)
    np.testing.assert_array_equal(np.asarray(d(jnp.array([1., 2.]))), [1., 2.])


@pytest.mark.parametrize("delay", [0.0, 0.7])
def test_hetero_delay_with_units_equals_ring_buffer_delay(delay):
    """A uniform per-synapse delay and the projection's ring-buffer delay give the same g."""
    from brainsim import neurons, synapses
    brainsim.environ.set(dt=0.1 * u.ms)
    rng = np.random.default_rng(0)
    Wd = (rng.random((4, 3)) * (rng.random((4, 3)) < 0.6)).astype(np.float32)
    M = event.CSR.from_dense(Wd * u.nS)
    spk = (rng.random((30, 4)) < 0.3).astype(np.float32)

    def run(hetero):
        post = neurons.LIF(3, R=0.1 * u.Gohm, V_th=100. * u.mV)
        comm = projections.HeteroDelayCSR(M, delay * u.ms) if hetero else M
        p = projections.AlignPostProj(comm, synapses.Expon(3, 2. * u.ms), synapses.COBA(0. * u.mV),
                                      post=post, delay=None if hetero else delay * u.ms)
        brainsim.init_states(post), brainsim.init_states(p)

        def step(s):
            p(s)
            post()
            return p.syn.g.value
        return np.asarray(brainsim.for_loop(step, jnp.asarray(spk)).to_decimal(u.nS))

    ref = run(False)
    assert ref.max() > 0
    np.testing.assert_allclose(run(True), ref, rtol=1e-6, atol=1e-7)


# -- SpikeHistory: one buffer per population, read at several delays ----------------------

class _Taps(brainsim.DynamicsModule):
    """Poisson spikes into one DeltaProj per delay: through one history or a buffer each."""

    def __init__(self, delays_ms, shared, n=5):
        super().__init__(n)
        self.src = brainsim.neurons.PoissonSpike(n, 2000. * u.Hz)
        self.sinks = [Sink(n) for _ in delays_ms]
        W = jnp.asarray(np.random.default_rng(1).random((n, n)), jnp.float32)
        self.hist = projections.SpikeHistory(self.src, max(delays_ms) * u.ms) if shared else None
        self.projs = [projections.DeltaProj(W, post=s, pre=self.hist.at(d * u.ms))
                      if shared else projections.DeltaProj(W, post=s, pre=self.src,
                                                            delay=d * u.ms)
                      for s, d in zip(self.sinks, delays_ms)]

    def update(self):
        if self.hist is not None:
            self.hist()
        for p in self.projs:
            p()
        self.src()
        return [s() for s in self.sinks]


@pytest.mark.parametrize("delays_ms", [[0.1], [0.1, 0.3, 0.7], [0., 0.5, 0.5, 1.2]])
def test_spike_history_taps_equal_a_delay_buffer_per_projection(delays_ms):
    outs = []
    for shared in (True, False):
        brainsim.random.seed(4)
        with brainsim.environ.context(dt=0.1 * u.ms):
            net = brainsim.init_states(_Taps(delays_ms, shared))
            outs.append(brainsim.for_loop(lambda: net(), length=40))
    assert float(jnp.sum(outs[0][0])) > 0
    for a, b in zip(*outs):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_spike_history_refuses_misuse():
    src = brainsim.neurons.PoissonSpike(3, 10. * u.Hz)
    with pytest.raises(TypeError, match="pre must be a neuron population"):
        projections.SpikeHistory(np.zeros(3), 1. * u.ms)
    with pytest.raises(ValueError, match="max_delay must be a time"):
        projections.SpikeHistory(src, 1.)
    with brainsim.environ.context(dt=0.1 * u.ms):
        h = brainsim.init_states(projections.SpikeHistory(src, 0.5 * u.ms))
        brainsim.init_states(src)
        with pytest.raises(ValueError, match="delay must be a time"):
            h.at(2)
        with pytest.raises(ValueError, match="longer than its max_delay"):
            brainsim.for_loop(lambda: (h(), h.at(0.6 * u.ms).get_spike())[1], length=2)
        # read before the history was called in the step: the spikes would come a step late
        with pytest.raises(ValueError, match="was read before it was called in this step"):
            brainsim.for_loop(lambda: (h.at(0.2 * u.ms).get_spike(), h())[0], length=2)
    with brainsim.environ.context(dt=0.2 * u.ms):
        with pytest.raises(ValueError, match="sized at init_states for dt="):
            brainsim.for_loop(lambda: (h(), h.at(0.2 * u.ms).get_spike())[1], length=2)
