"""Neuron models: transform consistency across families, units, f-I curve, HH vs RK4."""
import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import init, neurons


def _vinit(mean, std=1. * u.mV):
    return init.Normal(mean, std)


# (name, constructor(n), drive, unit of V or None)
CASES = [
    ("IF", lambda n: neurons.IF(n, tau=1. * u.ms, V_initializer=_vinit(0.5 * u.mV, 0.2 * u.mV)),
     0.5 * u.mV, u.mV),
    ("LIF", lambda n: neurons.LIF(n, V_initializer=_vinit(0.5 * u.mV, 0.2 * u.mV)), 3. * u.mV, u.mV),
    ("LIF-soft", lambda n: neurons.LIF(n, spk_reset="soft", V_initializer=_vinit(0.5 * u.mV, 0.2 * u.mV)),
     3. * u.mV, u.mV),
    ("LIF-Mohm", lambda n: neurons.LIF(n, tau=20. * u.ms, V_th=-50. * u.mV, V_reset=-60. * u.mV,
                                        V_rest=-60. * u.mV, R=100. * u.Mohm,
                                        V_initializer=_vinit(-55. * u.mV)), 1.5 * u.nA, u.mV),
    ("LIFRef", lambda n: neurons.LIFRef(n, tau_ref=1. * u.ms,
                                        V_initializer=_vinit(0.5 * u.mV, 0.2 * u.mV)), 3. * u.mV, u.mV),
    ("ALIF", lambda n: neurons.ALIF(n, beta=0.5 * u.mV, V_initializer=_vinit(0.5 * u.mV, 0.2 * u.mV)),
     3. * u.mV, u.mV),
    ("ExpIF", lambda n: neurons.ExpIF(n, tau_ref=1. * u.ms, V_initializer=_vinit(-60. * u.mV)),
     200. * u.mV, u.mV),
    ("AdEx", lambda n: neurons.AdEx(n, V_initializer=_vinit(-60. * u.mV)), 200. * u.mV, u.mV),
    ("GIF", lambda n: neurons.GIF(n, A1=1. * u.mV, A2=-2. * u.mV, A_th=1. * u.mV, a=0.2,
                                  V_initializer=_vinit(-55. * u.mV)), 200. * u.mV, u.mV),
    ("QuaIF", lambda n: neurons.QuaIF(n, V_initializer=_vinit(-45. * u.mV)), 20. * u.mV, u.mV),
    ("Izhikevich", lambda n: neurons.Izhikevich(n, V_initializer=_vinit(-65. * u.mV)), 10. * u.mV, u.mV),
    ("HH", lambda n: neurons.HH(n, V_initializer=_vinit(-60. * u.mV, 5. * u.mV)), 1. * u.nA, u.mV),
    ("LeakyIntegrator", lambda n: neurons.LeakyIntegrator(n, V_initializer=init.Normal(0., 1.)),
     1., None),
]
IDS = [c[0] for c in CASES]
N, STEPS, EAGER_STEPS = 4, 40, 12


@pytest.fixture(autouse=True)
def _dt():
    brainsim.environ.set(dt=0.1 * u.ms)


def _build(make, batch_size=None, seed=1):
    brainsim.random.seed(seed)
    return brainsim.init_states(make(N), batch_size=batch_size)


def _vals(model):
    return {k: np.asarray(u.get_mantissa(s.value)) for k, s in model.states().items()}


def _out(x):
    return np.asarray(u.get_mantissa(x))


@pytest.mark.parametrize("name,make,drive,unit", CASES, ids=IDS)
def test_jit_equals_eager(name, make, drive, unit):
    m1 = _build(make)
    eager = [_out(m1(drive)) for _ in range(EAGER_STEPS)]
    m2 = _build(make)
    step = brainsim.jit(lambda: m2(drive))
    jitted = [_out(step()) for _ in range(EAGER_STEPS)]
    np.testing.assert_allclose(np.stack(jitted), np.stack(eager), rtol=1e-5, atol=1e-5)
    for k, v in _vals(m1).items():
        np.testing.assert_allclose(_vals(m2)[k], v, rtol=1e-5, atol=1e-5, err_msg=k)


@pytest.mark.parametrize("name,make,drive,unit", CASES, ids=IDS)
def test_for_loop_equals_python_loop(name, make, drive, unit):
    m1 = _build(make)
    loop = [_out(m1(drive)) for _ in range(STEPS)]
    m2 = _build(make)
    scanned = _out(brainsim.for_loop(lambda: m2(drive), length=STEPS))
    np.testing.assert_allclose(scanned, np.stack(loop), rtol=1e-5, atol=1e-5)
    if name != "LeakyIntegrator":
        assert np.stack(loop).sum() > 0, "the drive should make the model spike"


@pytest.mark.parametrize("name,make,drive,unit", CASES, ids=IDS)
def test_vmap_equals_loop_over_batch(name, make, drive, unit):
    B = 3
    mb = _build(make, batch_size=B)
    init_vals = {k: s.value for k, s in mb.states().items()}
    scale = jnp.array([0.5, 1.0, 1.5])[:, None]
    xs = drive * scale if isinstance(drive, u.Quantity) else drive * scale
    xs = xs * jnp.ones((B, N))
    step = brainsim.vmap(lambda x: mb(x), batched_states=lambda: mb.states())
    outb = np.moveaxis(_out(brainsim.for_loop(lambda: step(xs), length=STEPS)), 0, 1)  # (B, T, N)
    m = _build(make)
    for b in range(B):
        for k, s in m.states().items():
            s.value = init_vals[k][b]
        xb = xs[b]
        out = _out(brainsim.for_loop(lambda: m(xb), length=STEPS))
        np.testing.assert_allclose(outb[b], out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name,make,drive,unit", CASES, ids=IDS)
def test_units_preserved(name, make, drive, unit):
    m = _build(make)
    brainsim.for_loop(lambda: m(drive), length=5)
    V = m.V.value
    if unit is None:
        assert not isinstance(V, u.Quantity) or u.get_unit(V).is_unitless
    else:
        assert isinstance(V, u.Quantity) and V.unit == unit


def test_wrong_current_unit_is_rejected():
    m = _build(lambda n: neurons.LIF(n, R=100. * u.Mohm))
    with pytest.raises(ValueError, match=r"LIF: the input current x has unit mV, but R \* x must be a voltage"):
        m(3. * u.mV)   # R * mV is not a voltage


def test_bad_parameters_rejected():
    with pytest.raises(ValueError, match="tau must be a positive time"):
        neurons.LIF(3, tau=10.)
    with pytest.raises(ValueError, match="V_reset"):
        neurons.LIF(3, V_reset=1. * u.nA)
    with pytest.raises(ValueError, match="spk_reset"):
        neurons.LIF(3, spk_reset="medium")


@pytest.mark.parametrize("I_mV", [12., 15., 25.])
def test_lif_f_i_curve_matches_analytic(I_mV):
    """Firing rate of a LIF with refractoriness under constant drive vs the closed form."""
    tau, th, tref, dt = 20., 10., 2., 0.01
    brainsim.environ.set(dt=dt * u.ms)
    n = brainsim.init_states(neurons.LIFRef(1, tau=tau * u.ms, V_th=th * u.mV, V_reset=0. * u.mV,
                                            V_rest=0. * u.mV, tau_ref=tref * u.ms))
    T = 20000
    s = np.asarray(brainsim.for_loop(lambda: n(I_mV * u.mV), length=T))[:, 0]
    t = np.nonzero(s)[0]
    isi = np.diff(t).mean() * dt
    analytic = tref + tau * math.log(I_mV / (I_mV - th))
    # time is discrete: the crossing is seen up to one step late
    assert abs(isi - analytic) < 2 * dt, (isi, analytic)


def test_lif_below_rheobase_is_silent():
    n = brainsim.init_states(neurons.LIF(1, tau=20. * u.ms, V_th=10. * u.mV))
    s = brainsim.for_loop(lambda: n(9.9 * u.mV), length=5000)
    assert float(s.sum()) == 0.


def _hh_rk4_reference(I_nA, T_ms, dt=0.001):
    """Independent pure-Python RK4 of the Traub-Miles HH neuron (mV, ms, nS, pF, pA)."""
    C, gL, gNa, gK, EL, ENa, EK, VT = 200., 10., 20000., 6000., -60., 50., -90., -63.

    def xe(x, k):
        return k if abs(x) < 1e-9 else x / math.expm1(x / k)

    def f(y):
        v, m, h, n = y
        d = v - VT
        am, bm = 0.32 * xe(13 - d, 4), 0.28 * xe(d - 40, 5)
        ah, bh = 0.128 * math.exp((17 - d) / 18), 4 / (1 + math.exp((40 - d) / 5))
        an, bn = 0.032 * xe(15 - d, 5), 0.5 * math.exp((10 - d) / 40)
        dv = (gL * (EL - v) - gNa * m ** 3 * h * (v - ENa) - gK * n ** 4 * (v - EK) + I_nA * 1e3) / C
        return (dv, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n)

    v = EL
    d = v - VT
    am, bm = 0.32 * xe(13 - d, 4), 0.28 * xe(d - 40, 5)
    ah, bh = 0.128 * math.exp((17 - d) / 18), 4 / (1 + math.exp((40 - d) / 5))
    an, bn = 0.032 * xe(15 - d, 5), 0.5 * math.exp((10 - d) / 40)
    y = (v, am / (am + bm), ah / (ah + bh), an / (an + bn))
    spikes, steps = [], int(round(T_ms / dt))
    for i in range(steps):
        k1 = f(y)
        k2 = f(tuple(a + dt / 2 * b for a, b in zip(y, k1)))
        k3 = f(tuple(a + dt / 2 * b for a, b in zip(y, k2)))
        k4 = f(tuple(a + dt * b for a, b in zip(y, k3)))
        new = tuple(a + dt / 6 * (b + 2 * c + 2 * e + g) for a, b, c, e, g in zip(y, k1, k2, k3, k4))
        if y[0] < -20. <= new[0]:
            spikes.append((i + 1) * dt)
        y = new
    return np.array(spikes)


@pytest.mark.parametrize("method,dt,tol_ms", [("exp_euler", 0.01, 0.8), ("rk4", 0.01, 0.05)])
def test_hh_matches_rk4_reference(method, dt, tol_ms):
    T, I = 60., 0.5
    ref = _hh_rk4_reference(I, T)
    brainsim.environ.set(dt=dt * u.ms)
    n = brainsim.init_states(neurons.HH(1, method=method))
    s = np.asarray(brainsim.for_loop(lambda: n(I * u.nA), length=int(round(T / dt))))[:, 0]
    got = (np.nonzero(s)[0] + 1) * dt
    assert len(ref) >= 3
    assert len(got) == len(ref), (got, ref)
    np.testing.assert_allclose(got, ref, atol=tol_ms)


def test_poisson_rate_and_spike_times():
    brainsim.environ.set(dt=1. * u.ms)
    p = brainsim.init_states(neurons.PoissonSpike(2000, 20. * u.Hz))
    s = brainsim.for_loop(lambda: p(), length=500)
    rate = float(s.mean()) * 1000.
    assert abs(rate - 20.) < 1.5
    g = brainsim.init_states(neurons.SpikeTimeGenerator(4, [3, 1, 3], [2., 2., 7.] * u.ms))
    s = np.asarray(brainsim.for_loop(lambda: g(), length=10))
    expect = np.zeros((10, 4))
    expect[2, 3] = expect[2, 1] = expect[7, 3] = 1
    np.testing.assert_array_equal(s, expect)
    with pytest.raises(ValueError, match="one time per spike"):
        neurons.SpikeTimeGenerator(4, [1, 2], [1.] * u.ms)


def test_parameter_shape_must_fit_the_population():
    with pytest.raises(ValueError, match=r"LIF: tau has shape \(5,\), which does not broadcast to the population shape \(3,\)"):
        neurons.LIF(3, tau=jnp.ones(5) * u.ms)
    neurons.LIF(3, tau=jnp.full(3, 10.) * u.ms)     # per-neuron values are fine


def test_poisson_rates_must_be_non_negative():
    with pytest.raises(ValueError, match="PoissonSpike: freqs must be non-negative rates"):
        neurons.PoissonSpike(3, -20. * u.Hz)


def test_hard_reset_is_exact_after_a_large_upswing():
    """The exponential upswing can carry V far past threshold in one step; the reset
    must still land on V_reset (it used to cancel to 0 mV, and AdEx then went NaN)."""
    n = _build(lambda k: neurons.AdEx(k, V_initializer=_vinit(-60. * u.mV)))
    V = n.reset(jnp.array([1e24, -40.]) * u.mV, jnp.array([1., 0.]), n.V_th, n.V_reset)
    np.testing.assert_array_equal(V.to_decimal(u.mV), [-68., -40.])
    s = brainsim.for_loop(lambda: n(200. * u.mV), length=300)
    assert float(s.sum()) > 10
    assert np.all(np.isfinite(n.V.value.to_decimal(u.mV)))
    assert np.all(np.isfinite(n.w.value.to_decimal(u.mV)))


class _UserModel(brainsim.DynamicsModule):
    def init_state(self, batch_size=None):
        self.v = brainsim.HiddenState(jnp.zeros(self.varshape))

    def update(self, x=0.):
        self.v.value = self.v.value + x
        return self.v.value


@pytest.mark.parametrize("make", [lambda: neurons.LIF(2), lambda: neurons.HH(2),
                                  lambda: neurons.PoissonSpike(2, 10. * u.Hz),
                                  lambda: brainsim.synapses.Expon(2), lambda: _UserModel(2)],
                         ids=["LIF", "HH", "PoissonSpike", "Expon", "user"])
def test_calling_before_init_states_says_how_to_fix(make):
    m = make()
    name = type(m).__name__
    with pytest.raises(ValueError, match=rf"{name} '{name}' was called before its states exist"
                                         r".*call brainsim\.init_states\(model\)"):
        m()
    brainsim.init_states(m)
    m()                                  # runs once the states exist


def test_reset_state_also_creates_the_states():
    m = _UserModel(3)
    m.reset_state()
    np.testing.assert_array_equal(np.asarray(m(1.)), np.ones(3))


def test_spike_times_in_one_step_are_refused():
    """Brian2 refuses two spikes of a neuron in one step; emitting one would lose the other."""
    brainsim.environ.set(dt=0.1 * u.ms)
    g = neurons.SpikeTimeGenerator(3, [0, 2, 0], [1., 1.02, 1.04] * u.ms)
    with pytest.raises(ValueError, match=r"neuron 0 has two spikes, at 1 ms and 1\.04 ms, in "
                                         r"the same time step \(step 10 with dt=0\.1 ms\)"):
        brainsim.init_states(g)
    # without a dt at init_states, the first step checks with the dt in force then
    brainsim.environ._environ._GLOBAL.pop("dt")
    g = brainsim.init_states(neurons.SpikeTimeGenerator(3, [1, 1], [2., 2.2] * u.ms))
    with brainsim.environ.context(dt=0.1 * u.ms):
        s = np.asarray(brainsim.for_loop(lambda: g(), length=25))
    assert s[20, 1] == 1 and s[22, 1] == 1 and s.sum() == 2
    g = brainsim.init_states(neurons.SpikeTimeGenerator(3, [1, 1], [2., 2.2] * u.ms))
    with brainsim.environ.context(dt=0.5 * u.ms):
        with pytest.raises(ValueError, match=r"neuron 1 has two spikes.*dt=0\.5 ms"):
            g()


@pytest.mark.parametrize("t", [-1., float("nan"), float("inf")])
def test_spike_times_must_be_finite_and_non_negative(t):
    with pytest.raises(ValueError, match=r"times must be finite and non-negative; spike 1 "
                                         r"\(neuron 2\)"):
        neurons.SpikeTimeGenerator(3, [0, 2], [1., t] * u.ms)


NAN, INF = float("nan"), float("inf")


@pytest.mark.parametrize("make,match", [
    (lambda: neurons.HH(2, C=0. * u.pF), r"HH: C must be finite and positive, got 0\. pF"),
    (lambda: neurons.HH(2, C=-200. * u.pF), r"HH: C must be finite and positive"),
    (lambda: neurons.HH(2, g_L=0. * u.nS), r"HH: g_L must be finite and positive"),
    (lambda: neurons.HH(2, g_K=-1. * u.uS), r"HH: g_K must be finite and non-negative"),
    (lambda: neurons.HH(2, V_th=NAN * u.mV), r"HH: V_th must be finite, got nan mV"),
    (lambda: neurons.ExpIF(2, delta_T=0. * u.mV), r"ExpIF: delta_T must be finite and positive"),
    (lambda: neurons.AdEx(2, delta_T=-3. * u.mV), r"AdEx: delta_T must be finite and positive"),
    (lambda: neurons.AdEx(2, tau_w=-30. * u.ms), r"AdEx: tau_w must be a positive time"),
    (lambda: neurons.AdEx(2, b=NAN * u.mV), r"AdEx: b must be finite"),
    (lambda: neurons.LIF(2, V_th=NAN * u.mV), r"LIF: V_th must be finite, got nan mV"),
    (lambda: neurons.LIFRef(2, V_reset=-INF * u.mV), r"LIFRef: V_reset must be finite"),
    (lambda: neurons.ALIF(2, V_th=INF * u.mV), r"ALIF: V_th must be finite"),
    (lambda: neurons.ALIF(2, tau_a=-1. * u.ms), r"ALIF: tau_a must be a positive time"),
    (lambda: neurons.QuaIF(2, V_c=NAN * u.mV), r"QuaIF: V_c must be finite"),
    (lambda: neurons.Izhikevich(2, V_th=INF * u.mV), r"Izhikevich: V_th must be finite"),
    (lambda: neurons.Izhikevich(2, a=-0.02 / u.ms), r"Izhikevich: a must be finite and positive"),
    (lambda: neurons.Izhikevich(2, a=0.02), r"Izhikevich: 1/a must be a positive time"),
    (lambda: neurons.LeakyIntegrator(2, tau=-5. * u.ms), r"LeakyIntegrator: tau must be a positive"),
    (lambda: neurons.LeakyIntegrator(2, R=NAN), r"LeakyIntegrator: R must be finite"),
    # an infinite time constant freezes the variable it divides
    (lambda: neurons.LIF(2, tau=INF * u.ms), r"LIF: tau must be a positive time quantity, finite"),
    (lambda: neurons.LIFRef(2, tau_ref=INF * u.ms), r"LIFRef: tau_ref must be a non-negative time"),
    (lambda: neurons.AdEx(2, tau_w=INF * u.ms), r"AdEx: tau_w must be a positive time"),
    (lambda: neurons.Izhikevich(2, a=0. / u.ms), r"Izhikevich: a must be finite and positive"),
    # a reset at or above the threshold fires at every step (and the surrogate divides by 0)
    (lambda: neurons.LIF(2, V_th=1. * u.mV, V_reset=1. * u.mV),
     r"LIF: V_reset=1\. mV must be below V_th=1\. mV, otherwise the neuron fires again"),
    (lambda: neurons.ExpIF(2, V_th=-68. * u.mV, V_reset=-60. * u.mV),
     r"ExpIF: V_reset=-60\. mV must be below V_th"),
    (lambda: neurons.LIF(2, V_th=1., V_reset=1., V_rest=0.), r"LIF: V_reset=1\.0 must be below V_th=1\.0"),
    (lambda: neurons.Izhikevich(2, c=30. * u.mV), r"Izhikevich: c=30\. mV must be below V_th=30\. mV"),
], ids=lambda v: "" if callable(v) else v.split(":")[0].strip("r\\"))
def test_bad_neuron_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_poisson_rate_above_one_per_step_is_refused():
    """At dt = 0.1 ms, 20 kHz would be drawn as one spike every step (capped at 10 kHz)."""
    p = brainsim.init_states(neurons.PoissonSpike(3, jnp.array([10., 20000., 5.]) * u.Hz))
    with pytest.raises(ValueError, match=r"PoissonSpike: freqs reaches 20000\. Hz, above 1/dt = "
                                         r"10000 Hz \(dt=0\.1 ms\).*dt of at most 1/freqs \(0\.05 ms\)"):
        p()
    with brainsim.environ.context(dt=0.01 * u.ms):       # checked with the dt in force
        s = brainsim.for_loop(lambda: p(), length=200)
    assert 0.1 < float(s[:, 1].mean()) < 0.3


def test_value_checks_skip_traced_parameters():
    """A parameter traced by jit/grad (being trained) cannot be inspected and is let through."""
    from brainsim._checks import check_positive, check_rate_per_step
    C = jax.jit(lambda c: neurons.HH(1, C=c * u.pF).C.mantissa)(-1.)
    assert float(C) == -1.
    jax.grad(lambda d: check_positive("ExpIF", "delta_T", d * u.mV).mantissa)(-1.)
    jax.jit(lambda r: check_rate_per_step("PoissonSpike", "freqs", r * u.Hz) or r)(1e6)
    with pytest.raises(ValueError, match="freqs reaches"):
        check_rate_per_step("PoissonSpike", "freqs", 1e6 * u.Hz)


def test_adex_in_physical_units_and_unit_mismatch():
    """With R in MOhm, w and b are currents and a a conductance; mixed kinds are named."""
    n = _build(lambda k: neurons.AdEx(k, R=100. * u.Mohm, a=4. * u.nS, b=0.08 * u.nA,
                                      V_initializer=-65. * u.mV))
    assert n.w.value.unit.has_same_dim(u.nA)
    s = brainsim.for_loop(lambda: n(1. * u.nA), length=1000)
    # w jumps by b per spike and decays towards a (V - V_rest) in between
    assert float(s.sum()) > 2 and float(n.w.value.to_decimal(u.nA)[0]) > 0.08
    with pytest.raises(ValueError, match=r"AdEx: b=1\. nA must be a current in the unit of the "
                                         r"input, so that R \* b is a voltage"):
        neurons.AdEx(1, b=1. * u.nA)
    with pytest.raises(ValueError, match=r"AdEx: a=4\. nS times a voltage must have the unit of b"):
        neurons.AdEx(1, a=4. * u.nS)


def test_hh_gating_variables_take_initializers():
    n = brainsim.init_states(neurons.HH(3, m_initializer=0.5, n_initializer=jnp.array([.1, .2, .3])),
                             batch_size=2)
    np.testing.assert_array_equal(np.asarray(n.m.value), np.full((2, 3), 0.5))
    np.testing.assert_allclose(np.asarray(n.n.value), np.tile([.1, .2, .3], (2, 1)), rtol=1e-6)
    am, bm, ah, bh, an, bn = neurons._hh.rates(np.float32(-60.), -63.)   # steady state for None
    np.testing.assert_allclose(np.asarray(n.h.value), np.full((2, 3), ah / (ah + bh)), rtol=1e-6)
    with pytest.raises(ValueError, match=r"HH: h_initializer must give fractions in \[0, 1\], "
                                         r"got values from 1\.5 to 1\.5"):
        brainsim.init_states(neurons.HH(3, h_initializer=1.5))


@pytest.mark.parametrize("method", ["rk4", "heun"])
def test_adex_adaptation_sees_v_held_during_refractoriness(method):
    """While refractory V stays at V_reset, so w relaxes exactly towards a (V_reset - V_rest),
    even for methods whose stages would otherwise move V inside the step."""
    n = brainsim.init_states(neurons.AdEx(2, tau_ref=5. * u.ms, method=method))
    n.refractory.value = jnp.full(2, 50, jnp.int32)
    n.V.value = jnp.full(2, -68.) * u.mV
    n.w.value = jnp.array([0., 10.]) * u.mV
    brainsim.for_loop(lambda: n(200. * u.mV), length=20)
    t, w_inf = 2., 1. * (-68. + 65.)               # ms; a (V_reset - V_rest) in mV
    expect = w_inf + (np.array([0., 10.]) - w_inf) * np.exp(-t / 30.)
    np.testing.assert_allclose(n.w.value.to_decimal(u.mV), expect, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(n.V.value.to_decimal(u.mV), [-68., -68.])
