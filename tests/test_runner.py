"""run(): monitors do not change the dynamics, compact spikes decode exactly, decimation, rate."""
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import init, neurons
from brainsim.runner import RateMonitor, Runner, SpikeMonitor, StateMonitor, run


@pytest.fixture(autouse=True)
def _dt():
    brainsim.environ.set(dt=0.1 * u.ms)


def _lif(n=40, seed=3):
    brainsim.random.seed(seed)
    return brainsim.init_states(neurons.LIFRef(n, tau_ref=1. * u.ms,
                                               V_initializer=init.Uniform(0. * u.mV, 1. * u.mV)))


def _drive(t):
    return 1.5 * u.mV + 0.5 * u.mV * jnp.sin(t / (3. * u.ms))


def test_monitors_do_not_change_dynamics_and_match_python_loop():
    a = _lif()
    res = run(a, 23.7 * u.ms, inputs=_drive, progress=False,
              monitors={"spk": SpikeMonitor(a), "dense": SpikeMonitor(a, compact=False),
                        "V": StateMonitor(a.V, indices=[0, 5]), "rate": RateMonitor(a)})
    b = _lif()
    run(b, 23.7 * u.ms, inputs=_drive, progress=False)
    np.testing.assert_array_equal(np.asarray(a.V.value.mantissa), np.asarray(b.V.value.mantissa))
    # reference: a plain Python loop over steps
    c = _lif()
    dt = 0.1 * u.ms
    spikes, V = [], []
    for i in range(237):
        with brainsim.environ.context(dt=dt):
            s = c(_drive(i * dt))
        spikes.append(np.asarray(s))
        V.append(np.asarray(c.V.value.to_decimal(u.mV))[[0, 5]])
    dense = np.stack(spikes) > 0
    assert dense.sum() > 10
    np.testing.assert_array_equal(res["spk"].dense(), dense)
    np.testing.assert_array_equal(np.asarray(res["dense"].dense()), dense)
    np.testing.assert_allclose(np.asarray(res["V"].values.to_decimal(u.mV)), np.stack(V), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(res["rate"].rate.to_decimal(u.Hz)),
                               dense.mean(1) / 1e-4, rtol=1e-5)
    assert res.t.shape == (237,) and res["spk"].count == int(dense.sum())


def test_decimated_state_monitor():
    a = _lif()
    res = run(a, 30. * u.ms, inputs=_drive, progress=False,
              monitors={"V": StateMonitor(a.V, [1], every=10), "V3": StateMonitor(a.V, [1], every=30),
                        "full": StateMonitor(a.V, [1])})
    full = np.asarray(res["full"].values.mantissa)
    np.testing.assert_allclose(np.asarray(res["V"].values.mantissa), full[9::10], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(res["V3"].values.mantissa), full[29::30], rtol=1e-6)
    np.testing.assert_allclose(res["V"].t.to_decimal(u.ms), res.t[9::10].to_decimal(u.ms))
    with pytest.raises(ValueError, match="multiple of the decimation"):
        run(a, 3.3 * u.ms, progress=False, monitors={"V": StateMonitor(a.V, every=10)})


def test_same_seed_same_raster_and_array_inputs():
    def once(seed):
        brainsim.random.seed(seed)
        p = brainsim.init_states(neurons.PoissonSpike(50, 100. * u.Hz))
        return run(p, 20. * u.ms, monitors={"s": SpikeMonitor(p)}, progress=False)["s"]
    a, b, c = once(1), once(1), once(2)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.times.mantissa, b.times.mantissa)
    assert a.count != c.count or not np.array_equal(a.indices, c.indices)
    # inputs given as an array, one row per step, equal a callable
    x = _lif()
    r1 = Runner(x, inputs=jnp.full((100,), 2.) * u.mV, monitors={"s": SpikeMonitor(x)}, progress=True)
    s1 = r1.run(10. * u.ms)["s"]
    y = _lif()
    s2 = run(y, 10. * u.ms, inputs=lambda t: 2. * u.mV, monitors={"s": SpikeMonitor(y)},
             progress=False)["s"]
    np.testing.assert_array_equal(s1.indices, s2.indices)


def test_bad_arguments():
    a = _lif()
    with pytest.raises(ValueError, match="at least one time step"):
        run(a, 0. * u.ms, progress=False)
    with pytest.raises(TypeError, match="monitor 'x'"):
        run(a, 1. * u.ms, monitors={"x": 3}, progress=False)
    with pytest.raises(ValueError, match="every must be a positive int"):
        StateMonitor(a.V, every=0)


def test_run_duration_needs_a_time_unit():
    lif = brainsim.init_states(brainsim.neurons.LIF(2))
    with brainsim.environ.context(dt=0.1 * u.ms):
        with pytest.raises(ValueError, match=r"run: duration must be a time quantity such as 1000. \* u.ms"):
            brainsim.run(lif, 10.)
