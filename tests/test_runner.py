"""run()/Runner: dynamics untouched by monitors, the recording-time convention, the clock that
successive runs continue, and clear errors on misuse."""
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
              monitors={"spk": SpikeMonitor(a), "V": StateMonitor(a.V, indices=[0, 5]),
                        "rate": RateMonitor(a)})
    b = _lif()
    run(b, 23.7 * u.ms, inputs=_drive, progress=False)
    np.testing.assert_array_equal(np.asarray(a.V.value.mantissa), np.asarray(b.V.value.mantissa))
    # reference: a plain Python loop; V is read at the start of each step, spikes after it
    c = _lif()
    dt = 0.1 * u.ms
    spikes, V = [], []
    for i in range(237):
        V.append(np.asarray(c.V.value.to_decimal(u.mV))[[0, 5]])
        with brainsim.environ.context(dt=dt):
            s = c(_drive(i * dt))
        spikes.append(np.asarray(s))
    dense = np.stack(spikes) > 0
    assert dense.sum() > 10
    np.testing.assert_array_equal(res["spk"].dense(), dense)
    np.testing.assert_allclose(np.asarray(res["V"].values.to_decimal(u.mV)), np.stack(V), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(res["rate"].rate.to_decimal(u.Hz)),
                               dense.mean(1) / 1e-4, rtol=1e-5)
    assert res.t.shape == (237,) and res["spk"].count == int(dense.sum())
    np.testing.assert_allclose(res["spk"].t.to_decimal(u.ms),
                               0.1 * np.nonzero(dense)[0], rtol=1e-12)


def test_trace_starts_with_the_initial_state_and_matches_the_analytic_lif():
    # tau dV/dt = -V + 20 mV from V(0) = 0: V(t) = 20 mV (1 - exp(-t / tau)); exp_euler is
    # exact for this linear equation, so values[k] is V(k dt) up to float32 rounding.
    n = brainsim.init_states(neurons.LIF(3, tau=10. * u.ms, V_th=100. * u.mV))
    res = run(n, 5. * u.ms, inputs=lambda t: 20. * u.mV, progress=False,
              monitors={"V": StateMonitor(n.V), "V4": StateMonitor(n.V, [1], every=4)})
    tr = res["V"]
    t = tr.t.to_decimal(u.ms)
    np.testing.assert_allclose(t, 0.1 * np.arange(50), rtol=1e-12)
    v = np.asarray(tr.values.to_decimal(u.mV))
    assert np.all(v[0] == 0.)                      # exactly V(0) at t = 0
    np.testing.assert_allclose(v[:, 0], 20. * (1 - np.exp(-t / 10.)), rtol=2e-5, atol=1e-6)
    t4 = res["V4"].t.to_decimal(u.ms)
    np.testing.assert_allclose(t4, 0.4 * np.arange(13), rtol=1e-12)   # ceil(50 / 4) samples
    np.testing.assert_allclose(np.asarray(res["V4"].values.to_decimal(u.mV))[:, 0],
                               20. * (1 - np.exp(-t4 / 10.)), rtol=2e-5, atol=1e-6)


def test_same_seed_same_raster_and_array_inputs():
    def once(seed):
        brainsim.random.seed(seed)
        p = brainsim.init_states(neurons.PoissonSpike(50, 100. * u.Hz))
        return run(p, 20. * u.ms, monitors={"s": SpikeMonitor(p)}, progress=False)["s"]
    a, b, c = once(1), once(1), once(2)
    np.testing.assert_array_equal(a.i, b.i)
    np.testing.assert_array_equal(a.t.mantissa, b.t.mantissa)
    assert a.count != c.count or not np.array_equal(a.i, c.i)
    # inputs given as an array, one row per step, equal a callable
    x = _lif()
    r1 = Runner(x, inputs=jnp.full((100,), 2.) * u.mV, monitors={"s": SpikeMonitor(x)}, progress=True)
    s1 = r1.run(10. * u.ms)["s"]
    y = _lif()
    s2 = run(y, 10. * u.ms, inputs=lambda t: 2. * u.mV, monitors={"s": SpikeMonitor(y)},
             progress=False)["s"]
    np.testing.assert_array_equal(s1.i, s2.i)


def test_successive_runs_continue_the_clock_and_equal_one_long_run():
    mons = lambda m: {"s": SpikeMonitor(m), "V": StateMonitor(m.V, [2], every=10),  # noqa: E731
                      "V1": StateMonitor(m.V, [2])}
    a = _lif()
    one = run(a, 6. * u.ms, inputs=_drive, progress=False, monitors=mons(a))
    b = _lif()
    r = Runner(b, inputs=_drive, progress=False, monitors=mons(b))
    p1, p2 = r.run(2.5 * u.ms), r.run(3.5 * u.ms)
    np.testing.assert_allclose(p2.t.to_decimal(u.ms), 2.5 + 0.1 * np.arange(35), rtol=1e-12)
    for key in ("V", "V1"):
        np.testing.assert_allclose(
            np.concatenate([p1[key].t.to_decimal(u.ms), p2[key].t.to_decimal(u.ms)]),
            one[key].t.to_decimal(u.ms), rtol=1e-12)
        np.testing.assert_array_equal(
            np.concatenate([p1[key].values.mantissa, p2[key].values.mantissa]),
            np.asarray(one[key].values.mantissa))
    np.testing.assert_allclose(
        np.concatenate([p1["s"].t.to_decimal(u.ms), p2["s"].t.to_decimal(u.ms)]),
        one["s"].t.to_decimal(u.ms), rtol=1e-12)
    assert one["s"].count > 5
    # brainsim.run continues the model's clock too; init_states / reset_states restart it
    c = _lif()
    run(c, 2. * u.ms, progress=False)
    assert float(run(c, 1. * u.ms, progress=False).t[0].to_decimal(u.ms)) == pytest.approx(2.)
    brainsim.reset_states(c)
    assert float(run(c, 1. * u.ms, progress=False).t[0].to_decimal(u.ms)) == 0.
    run(c, 1. * u.ms, progress=False)
    brainsim.init_states(c)
    assert float(run(c, 1. * u.ms, progress=False).t[0].to_decimal(u.ms)) == 0.


def test_state_monitor_follows_a_state_replaced_by_init_states():
    a = _lif(5)
    mon = StateMonitor(a.V)
    brainsim.random.seed(9)
    brainsim.init_states(a)           # a.V is a new State object now
    v0 = np.asarray(a.V.value.mantissa)
    res = run(a, 0.3 * u.ms, inputs=lambda t: 2. * u.mV, progress=False, monitors={"V": mon})
    np.testing.assert_array_equal(np.asarray(res["V"].values.mantissa)[0], v0)
    assert np.asarray(res["V"].values.mantissa)[1:].std() > 0


def test_bad_arguments():
    a = _lif()
    with pytest.raises(ValueError, match="at least one time step"):
        run(a, 0. * u.ms, progress=False)
    with pytest.raises(TypeError, match="monitor 'x'"):
        run(a, 1. * u.ms, monitors={"x": 3}, progress=False)
    with pytest.raises(ValueError, match="every must be a positive int"):
        StateMonitor(a.V, every=0)
    # everything after model and duration is keyword-only, in run and Runner alike
    with pytest.raises(TypeError, match=r"run\(\) takes 2 positional arguments"):
        run(a, 1. * u.ms, None, {"V": StateMonitor(a.V)})
    with pytest.raises(TypeError, match=r"Runner.__init__\(\) takes 2 positional arguments"):
        Runner(a, {"V": StateMonitor(a.V)})


def test_run_duration_needs_a_time_unit():
    lif = brainsim.init_states(brainsim.neurons.LIF(2))
    with brainsim.environ.context(dt=0.1 * u.ms):
        with pytest.raises(ValueError, match=r"run: duration must be a time quantity such as 1000. \* u.ms"):
            brainsim.run(lif, 10.)


def test_duration_that_is_not_whole_steps_is_refused_with_the_nearest_ones():
    a = _lif(3)
    v = np.asarray(a.V.value.mantissa)
    with pytest.raises(ValueError, match=r"duration=.*2\.35.* is not a whole number of time steps "
                                         r".*duration=2\.3 ms or duration=2\.4 ms"):
        run(a, 2.35 * u.ms, progress=False)
    with pytest.raises(ValueError, match=r"e\.g\. duration=0\.1 ms\.$"):
        run(a, 0.06 * u.ms, progress=False)
    with pytest.raises(ValueError, match="duration must be a finite time"):
        run(a, float("nan") * u.ms, progress=False)
    with pytest.raises(ValueError, match="duration must be a finite time"):
        run(a, float("inf") * u.ms, progress=False)
    np.testing.assert_array_equal(np.asarray(a.V.value.mantissa), v)
    assert run(a, 23.7 * u.ms, progress=False).t.shape == (237,)   # decimal rounding is fine


def test_inputs_with_the_wrong_number_of_rows():
    a = _lif(3)
    with pytest.raises(ValueError, match="inputs have 10 rows, the run has 20 steps"):
        run(a, 2. * u.ms, inputs=jnp.ones((10, 3)) * u.mV, progress=False)
    with pytest.raises(ValueError, match="inputs have 30 rows, the run has 20 steps"):
        run(a, 2. * u.ms, inputs=(jnp.ones((30, 3)) * u.mV,), progress=False)
    with pytest.raises(ValueError, match="got a scalar"):
        run(a, 2. * u.ms, inputs=2. * u.mV, progress=False)


def _loop_raster(model, drive, n_steps):
    """The spikes of an eager Python loop, one row per step."""
    rows = []
    for k in range(n_steps):
        with brainsim.environ.context(dt=0.1 * u.ms):
            rows.append(np.asarray(model(drive(k * 0.1 * u.ms))) > 0)
    return np.stack(rows)


# name, population size, drive, steps before the recorded run, steps recorded
RECORD_CASES = [
    ("sparse", 40, _drive, 0, 237),
    ("after a first run", 40, _drive, 30, 70),      # t0 = 3 ms: times continue the clock
    ("all fire together", 7, lambda t: 30. * u.mV, 0, 40),
    ("silent", 6, lambda t: 0. * u.mV, 0, 25),
]


@pytest.mark.parametrize("name,n,drive,skip,steps", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_spike_record_reads_like_brian2(name, n, drive, skip, steps):
    a = _lif(n)
    r = Runner(a, inputs=drive, monitors={"s": SpikeMonitor(a)}, progress=False)
    if skip:
        r.run(skip * 0.1 * u.ms)
    rec = r.run(steps * 0.1 * u.ms)["s"]
    raster = _loop_raster(_lif(n), drive, skip + steps)[skip:]
    # reference events by a Python loop over the raster, in (step, neuron) order
    ev = [(k, j) for k in range(steps) for j in range(n) if raster[k, j]]
    t0 = skip * 0.1
    assert rec.count == len(ev) and rec.n == n
    assert (rec.count > 0) == (name != "silent")
    np.testing.assert_array_equal(rec.i, [j for _, j in ev])
    np.testing.assert_array_equal(rec.steps, [k for k, _ in ev])
    np.testing.assert_allclose(rec.t.to_decimal(u.ms), [t0 + 0.1 * k for k, _ in ev], rtol=1e-12)
    np.testing.assert_allclose(rec.run_t.to_decimal(u.ms), t0 + 0.1 * np.arange(steps), rtol=1e-12)
    trains = rec.spike_trains()
    assert sorted(trains) == list(range(n))
    for j in range(n):
        np.testing.assert_allclose(trains[j].to_decimal(u.ms),
                                   [t0 + 0.1 * k for k, jj in ev if jj == j], rtol=1e-12)
    # rates over the run and from a later start: spikes at or after start over the span left
    for start in (None, (t0 + 0.1 * (steps // 2)) * u.ms):
        s_ms = t0 if start is None else float(start.to_decimal(u.ms))
        span_s = (t0 + 0.1 * steps - s_ms) / 1e3
        per = [sum(1 for k, jj in ev if jj == j and t0 + 0.1 * k >= s_ms - 1e-9) / span_s
               for j in range(n)]
        np.testing.assert_allclose(rec.rates(start).to_decimal(u.Hz), per, rtol=1e-9)
        np.testing.assert_allclose(float(rec.mean_rate(start).to_decimal(u.Hz)), np.mean(per),
                                   rtol=1e-9)
        sub = [0, n - 1]
        np.testing.assert_allclose(float(rec.mean_rate(start, sub).to_decimal(u.Hz)),
                                   np.mean([per[j] for j in sub]), rtol=1e-9)
