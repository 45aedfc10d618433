"""Gap junctions and current inputs to a NeuronGroup: a two-cell analytic case, dense against
sparse conductances, built-in neurons, and Brian2's gapjunctions example."""
import json
import os
import subprocess

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import event, neurons, projections

PASSIVE = """
dv/dt = (gl * (El - v) + Igap) / C : volt
Igap : amp
"""
NS = dict(gl=10. * u.nS, El=-60. * u.mV, C=200. * u.pF)


def _two_cells(conn, steps=2000, dt=0.01 * u.ms):
    g = brainsim.NeuronGroup(2, PASSIVE, method="exponential_euler", namespace=NS,
                             current="Igap")
    projections.GapJunction(conn, g)
    g.v = jnp.array([-50., -70.]) * u.mV
    brainsim.init_states(g)
    with brainsim.environ.context(dt=dt):
        out = brainsim.for_loop(lambda: (g(), g.v.value.to_decimal(u.mV))[1], length=steps)
    return np.asarray(out)


def test_two_cells_match_the_analytic_solution():
    gc = 5. * u.nS
    out = _two_cells(jnp.array([[0., 5.], [5., 0.]]) * u.nS)
    t = (np.arange(1, 2001) * 0.01)[:, None]          # ms
    # the mean relaxes with C / gl = 20 ms, the difference with C / (gl + 2 g) = 10 ms
    mean = -60. + (-60. - -60.) * np.exp(-t / 20.)
    diff = 20. * np.exp(-t / (200. / (10. + 2 * float(gc.to_decimal(u.nS)))))
    ref = np.concatenate([mean + diff / 2, mean - diff / 2], 1)
    np.testing.assert_allclose(out, ref, atol=2e-2)      # first order in dt for the coupling
    # the coupling acts: uncoupled, the difference would still be 20 exp(-1.01 / 20) = 19.0
    assert abs(out[100, 0] - out[100, 1]) < 18.5


def test_sparse_conductances_equal_dense():
    G = np.array([[0., 5., 0.], [5., 0., 2.], [0., 2., 0.]], np.float32)
    pre, post = np.nonzero(G)
    csr = event.CSR.from_coo(pre, post, G[pre, post] * u.nS, shape=(3, 3))
    csc = event.CSC.from_coo(pre, post, G[pre, post] * u.nS, shape=(3, 3))
    outs = []
    for conn in (jnp.asarray(G) * u.nS, csr, csc):
        g = brainsim.NeuronGroup(3, PASSIVE, method="exponential_euler", namespace=NS,
                                 current="Igap")
        projections.GapJunction(conn, g)
        g.v = jnp.array([-50., -70., -65.]) * u.mV
        brainsim.init_states(g)
        with brainsim.environ.context(dt=0.1 * u.ms):
            brainsim.for_loop(lambda: g(), length=100)
        outs.append(np.asarray(g.v.value.to_decimal(u.mV)))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)
    np.testing.assert_allclose(outs[0], outs[2], rtol=1e-6)
    assert np.ptp(outs[0]) < 10.


def test_gap_junction_on_builtin_lif():
    n = brainsim.init_states(neurons.LIF(2, tau=10. * u.ms, V_th=100. * u.mV,
                                         V_initializer=jnp.array([10., 0.]) * u.mV))
    # R = 1: the "current" is in volts, g is dimensionless (in units of 1 / R)
    projections.GapJunction(jnp.array([[0., .5], [.5, 0.]]), n)
    with brainsim.environ.context(dt=0.01 * u.ms):
        brainsim.for_loop(lambda: n(0. * u.mV), length=1000)
    v = np.asarray(n.V.value.to_decimal(u.mV))
    # tau dV/dt = -V + g (V_other - V): the difference decays with tau / (1 + 2 g) = 5 ms
    assert v[0] - v[1] == pytest.approx(10. * np.exp(-10. / 5.), rel=2e-2)


def test_current_input_and_x_reach_the_current_parameter():
    g = brainsim.NeuronGroup(1, "dv/dt = I / (1*ms) : volt\nI : volt", current="I",
                             method="euler")
    g.I = 1. * u.mV
    brainsim.init_states(g)
    g.add_current_input("k", lambda v: 2. * u.mV)
    with brainsim.environ.context(dt=0.1 * u.ms):
        g(3. * u.mV)
    assert float(g.v.value[0].to_decimal(u.mV)) == pytest.approx(0.6)   # (1 + 2 + 3) * 0.1


def test_current_input_errors():
    with pytest.raises(ValueError, match=r"current='Isyn' must name a parameter.*"
                                         r"Did you mean 'I_syn'\?"):
        brainsim.NeuronGroup(1, "dv/dt = I_syn / (1*ms) : volt\nI_syn : volt", current="Isyn")
    g = brainsim.init_states(brainsim.NeuronGroup(1, "dv/dt = -v / (1*ms) : volt"))
    with pytest.raises(TypeError, match=r"received a current input but has no parameter"):
        with brainsim.environ.context(dt=0.1 * u.ms):
            g(1. * u.mV)
    g = brainsim.init_states(brainsim.NeuronGroup(1, "dv/dt = I / (1*ms) : volt\nI : volt",
                                                  current="I"))
    with pytest.raises(brainsim.UnitMismatchError, match=r"a current input to 'I'"):
        with brainsim.environ.context(dt=0.1 * u.ms):
            g(1. * u.nA)
    with pytest.raises(ValueError, match=r"square \(n, n\) matrix for the 1 post"):
        projections.GapJunction(jnp.ones((2, 2)), g)


# Brian2's examples/synapses/gapjunctions.py
GAP_EQS = """
dv/dt = (v0 - v + Igap) / tau : 1
Igap : 1
"""
BRIAN2_GAP = """
import json
from brian2 import *
prefs.codegen.target = 'numpy'
N = 10; v0 = 1.05; tau = 10*ms
neurons = NeuronGroup(N, '''dv/dt = (v0 - v + Igap) / tau : 1
Igap : 1''', threshold='v > 1', reset='v = 0', method='exact')
neurons.v = 'i * 1.0 / (N - 1)'
S = Synapses(neurons, neurons, '''w : 1
Igap_post = w * (v_pre - v_post) : 1 (summed)''')
S.connect()
S.w = .02
M = SpikeMonitor(neurons)
run(200*ms)
trains = M.spike_trains()
print(json.dumps([[int(round(float(t / defaultclock.dt))) for t in trains[i]] for i in range(N)]))
"""


def _brainsim_gap():
    N = 10
    g = brainsim.NeuronGroup(N, GAP_EQS, threshold="v > 1", reset="v = 0", method="exact",
                             namespace={"v0": 1.05, "tau": 10. * u.ms}, current="Igap")
    projections.GapJunction(jnp.full((N, N), .02), g)
    g.v = jnp.arange(N) / (N - 1)
    brainsim.init_states(g)
    with brainsim.environ.context(dt=0.1 * u.ms):
        s = np.asarray(brainsim.for_loop(lambda: g(), length=2000))
    return [np.nonzero(s[:, j])[0].tolist() for j in range(N)]


def test_gapjunctions_example_equals_a_loop():
    N, w, v0, tau, dt = 10, .02, 1.05, 10., 0.1
    v = np.arange(N) / (N - 1)
    e = np.exp(-dt / tau)
    trains = [[] for _ in range(N)]
    for n in range(2000):                 # Igap held over the step; v integrated exactly
        igap = w * (v.sum() - N * v)
        v = v * e + (v0 + igap) * (1 - e)
        for j in np.nonzero(v > 1)[0]:
            trains[j].append(n)
        v[v > 1] = 0.
    ours = _brainsim_gap()
    assert sum(map(len, trains)) > 40
    assert [len(t) for t in ours] == [len(t) for t in trains]
    for a, b in zip(ours, trains):       # float32 against float64: at most one step apart
        assert np.max(np.abs(np.subtract(a, b))) <= 1


def test_gapjunctions_example_equals_brian2():
    py = os.environ.get("BRIAN2_PYTHON")
    if not py:
        pytest.skip("BRIAN2_PYTHON is not set (the python of a separate venv with brian2)")
    out = subprocess.run([py, "-c", BRIAN2_GAP], capture_output=True, text=True,
                         check=True).stdout
    theirs = json.loads(out.strip().splitlines()[-1])
    ours = _brainsim_gap()
    assert sum(map(len, theirs)) > 20
    # float32 against float64: a spike may move by one step
    assert [len(t) for t in ours] == [len(t) for t in theirs]
    for a, b in zip(ours, theirs):
        assert np.max(np.abs(np.subtract(a, b))) <= 1
