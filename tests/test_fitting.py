"""brainsim.fitting: recovery of known parameters, spike-train distances against hand and
numerical references, device sharding, and the errors on bad input."""
import functools
import json
import os
import subprocess
import sys

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.fitting import (GammaFactor, MSEMetric, SpikeFitter, TraceFitter,
                              VanRossumMetric, gamma_factor, van_rossum)

PASSIVE = "dv/dt = (gL * (EL - v) + I) / C : volt\ngL : siemens\nC : farad\nEL : volt"
TRUE = {"gL": 10. * u.nS, "C": 200. * u.pF, "EL": -65. * u.mV}
BOUNDS = {"gL": [2., 50.] * u.nS, "C": [50., 500.] * u.pF, "EL": [-80., -50.] * u.mV}


def _steps(n_traces=3, T=1500):
    I = np.zeros((n_traces, T))
    for k in range(n_traces):
        I[k, 200 + 100 * k: 900 + 100 * k] = 0.1 * (k + 1)
    return I * u.nA


@functools.lru_cache(maxsize=None)
def _passive_data(noise_mV=0.5, seed=0):
    I = _steps()
    gen = TraceFitter(PASSIVE, {"I": I}, {"v": np.zeros(I.shape) * u.mV}, dt=0.1 * u.ms,
                      param_init={"v": -65. * u.mV}, n_samples=1)
    v = gen.generate(TRUE)
    rng = np.random.default_rng(seed)
    return I, v + rng.normal(0., noise_mV, v.shape) * u.mV


def test_generate_matches_an_analytic_passive_membrane():
    # constant current from rest: v(t) = EL + I/gL (1 - exp(-t gL / C))
    I = np.full((1, 1000), 0.2) * u.nA
    f = TraceFitter(PASSIVE, {"I": I}, {"v": np.zeros((1, 1000)) * u.mV}, dt=0.1 * u.ms,
                    param_init={"v": -65. * u.mV}, n_samples=1)
    v = np.asarray(f.generate(TRUE).to_decimal(u.mV))[0]
    t = np.arange(1000) * 1e-4
    ref = -65. + 20. * (1. - np.exp(-t / 0.02))
    np.testing.assert_allclose(v, ref, atol=0.02)


def test_trace_fit_recovers_passive_membrane_within_5_percent():
    I, v = _passive_data()
    f = TraceFitter(PASSIVE, {"I": I}, {"v": v}, dt=0.1 * u.ms,
                    param_init={"v": -65. * u.mV}, n_samples=16)
    res = f.fit(BOUNDS, n_rounds=35)
    for k, true in TRUE.items():
        est = float(res.params[k].to_decimal(true.unit))
        assert abs(est - float(true.mantissa)) <= 0.05 * abs(float(true.mantissa)), (k, est)
    # the error reaches the noise floor (0.5 mV)^2 and the history never gets worse
    assert res.error < 1.2 * (0.5e-3) ** 2
    errs = [h["error"] for h in res.history]
    assert all(b <= a for a, b in zip(errs, errs[1:]))
    assert len(res.history) == 36
    assert res.all["error"].shape == (36 * 16,) and res.all["gL"].shape == (36 * 16,)
    assert float(np.min(res.all["error"])) == res.error


def test_time_weights_select_the_fitted_window():
    # a corrupted second half is ignored when its weights are 0
    I, v = _passive_data(noise_mV=0.05)
    vm = np.asarray(v.to_decimal(u.mV)).copy()
    vm[:, 750:] += 30.
    w = np.r_[np.ones(750), np.zeros(750)]
    f = TraceFitter(PASSIVE, {"I": I}, {"v": vm * u.mV}, dt=0.1 * u.ms,
                    param_init={"v": -65. * u.mV}, n_samples=8,
                    namespace={"C": 200. * u.pF, "EL": -65. * u.mV})
    res = f.fit({"gL": BOUNDS["gL"]}, n_rounds=15, metric=MSEMetric(t_weights=w))
    bad = f.fit({"gL": BOUNDS["gL"]}, n_rounds=15)
    assert abs(float(bad.params["gL"].to_decimal(u.nS)) - 10.) > 1.
    assert abs(float(res.params["gL"].to_decimal(u.nS)) - 10.) < 0.5


def test_neuron_class_model_is_fitted():
    I = _steps(2, 1000).to_decimal(u.nA) * 10. * u.mV  # LIF with R=1 takes voltages
    gen = TraceFitter(brainsim.neurons.LIF, {"x": I}, {"V": np.zeros(I.shape) * u.mV},
                      dt=0.1 * u.ms, n_samples=1, namespace={"V_th": 100. * u.mV})
    v = gen.generate({"tau": 15. * u.ms})
    f = TraceFitter(brainsim.neurons.LIF, {"x": I}, {"V": v}, dt=0.1 * u.ms, n_samples=8,
                    namespace={"V_th": 100. * u.mV})
    res = f.fit({"tau": [2., 60.] * u.ms}, n_rounds=20)
    assert abs(float(res.params["tau"].to_decimal(u.ms)) - 15.) < 0.3


LIF_EQS = "dv/dt = (-65*mV - v + R * I) / tau : volt\nR = 100*Mohm : ohm"


def test_spike_fit_finds_the_time_constant():
    I = np.zeros((2, 2000))
    I[0, 200:1800], I[1, 500:1500] = 0.21, 0.3
    I = I * u.nA
    kw = dict(dt=0.1 * u.ms, threshold="v > -50*mV", reset="v = -65*mV",
              param_init={"v": -65. * u.mV})
    gen = SpikeFitter(LIF_EQS, {"I": I}, [[] * u.ms, [] * u.ms], n_samples=1, **kw)
    spikes = gen.generate({"tau": 12. * u.ms})
    assert all(len(s) > 3 for s in spikes)
    f = SpikeFitter(LIF_EQS, {"I": I}, spikes, n_samples=16, **kw)
    res = f.fit({"tau": [5., 30.] * u.ms}, n_rounds=10)
    assert abs(float(res.params["tau"].to_decimal(u.ms)) - 12.) < 0.5
    assert res.gamma > 0.9
    # gradient-free with the gamma factor
    res_g = f.fit({"tau": [5., 30.] * u.ms}, n_rounds=10, metric=GammaFactor(1. * u.ms))
    assert res_g.error < 0.1
    assert abs(float(res_g.params["tau"].to_decimal(u.ms)) - 12.) < 0.5


# -- spike-train distances ------------------------------------------------------------------

def test_gamma_factor_of_identical_trains_is_one():
    t = np.sort(np.random.default_rng(1).uniform(0, 10., 80)) * u.second
    assert gamma_factor(t, t, 2. * u.ms, 10. * u.second) == pytest.approx(1., abs=1e-12)


def test_gamma_factor_of_independent_poisson_trains_is_about_zero():
    rng = np.random.default_rng(2)
    a = np.sort(rng.uniform(0, 100., 1000)) * u.second
    b = np.sort(rng.uniform(0, 100., 1000)) * u.second
    g = gamma_factor(a, b, 2. * u.ms, 100. * u.second, rate_correction=False)
    assert abs(g) < 0.05


def test_gamma_factor_against_a_hand_computed_case():
    model = [10., 20., 30.] * u.ms
    data = [10.5, 25., 31., 40.] * u.ms
    # coincidences within 1 ms: 10.5~10 and 31~30 -> 2; nu = 3 / 0.1 s = 30 Hz
    expected = 2 * 30. * 1e-3 * 4
    g = (2 - expected) / (0.5 * (4 + 3) * (1 - 2 * 30. * 1e-3))
    got = gamma_factor(model, data, 1. * u.ms, 100. * u.ms, rate_correction=False)
    assert got == pytest.approx(g, rel=1e-12)
    got_rc = gamma_factor(model, data, 1. * u.ms, 100. * u.ms)
    assert got_rc == pytest.approx(g - 2 * abs(40. - 30.) / 40., rel=1e-12)
    # the binned metric counts the same coincidences
    def binned(ts):
        s = np.zeros((1, 2000), np.float32)
        s[0, np.rint(np.asarray(ts.to_decimal(u.ms)) / 0.05).astype(int)] = 1.
        return jnp.asarray(s)
    m = GammaFactor(1. * u.ms, rate_correction=False)
    assert float(m.gamma(binned(model), binned(data), 5e-5)[0]) == pytest.approx(g, rel=1e-5)


def test_van_rossum_against_a_numerical_integral():
    a = np.array([3., 12., 14.5, 30.]) * 1e-3
    b = np.array([4., 13., 29., 31., 45.]) * 1e-3
    tau = 5e-3
    t = np.arange(-0.01, 0.2, 1e-6)

    def f(ts):
        return sum(np.where(t >= s, np.exp(-(t - s) / tau), 0.) for s in ts)

    ref = np.sqrt(np.trapezoid((f(a) - f(b)) ** 2, t) / tau)
    got = van_rossum(a * u.second, b * u.second, tau * u.second)
    assert got == pytest.approx(ref, rel=1e-3)
    # the smooth binned version used by SpikeFitter approximates it
    dt = 1e-5
    def binned(ts):
        s = np.zeros((1, 20000), np.float32)
        s[0, np.rint(ts / dt).astype(int)] = 1.
        return jnp.asarray(s)
    d2 = float(VanRossumMetric(tau * u.second)(binned(a), binned(b), dt))
    assert np.sqrt(d2) == pytest.approx(ref, rel=0.02)
    assert van_rossum(a * u.second, a * u.second, tau * u.second) == 0.


def test_spike_distances_are_unit_aware():
    with pytest.raises(TypeError, match="must be spike times as a time Quantity"):
        van_rossum([1., 2.], [1.] * u.ms, 5. * u.ms)
    with pytest.raises(ValueError, match="tau must be one positive time"):
        van_rossum([1.] * u.ms, [1.] * u.ms, 5. * u.mV)
    with pytest.raises(ValueError, match="delta must be one positive time"):
        gamma_factor([1.] * u.ms, [1.] * u.ms, -1. * u.ms, 1. * u.second)
    # the same trains in other units give the same value
    a, b = [1., 7.] * u.ms, [2., 9.] * u.ms
    assert van_rossum(a, b, 5. * u.ms) == pytest.approx(
        van_rossum(a.in_unit(u.second), b.in_unit(u.second), 0.005 * u.second))


# -- devices ------------------------------------------------------------------------------

_SCRIPT = r"""
import json, jax, numpy as np, brainunit as u
from brainsim.fitting import TraceFitter
I = np.zeros((2, 300)); I[:, 50:250] = [[0.1], [0.3]]
I = I * u.nA
eqs = "dv/dt = (gL * (-65*mV - v) + I) / (200*pF) : volt"
gen = TraceFitter(eqs, {'I': I}, {'v': np.zeros((2, 300)) * u.mV}, dt=0.1 * u.ms,
                  param_init={'v': -65. * u.mV}, n_samples=1)
v = gen.generate({'gL': 10. * u.nS})
f = TraceFitter(eqs, {'I': I}, {'v': v}, dt=0.1 * u.ms, param_init={'v': -65. * u.mV},
                n_samples=8)
out = {'devices': jax.device_count()}
for n in (1, 2):
    res = f.fit({'gL': [2., 50.] * u.nS}, n_rounds=5, devices=jax.devices()[:n])
    out[n] = np.asarray(res.all['gL'].to_decimal(u.nS)).tolist()
    out[f'used{n}'] = res.devices
print(json.dumps(out))
"""


def test_two_host_devices_give_the_same_fit_as_one():
    # the device count is fixed when jax starts: a fresh process with 2 host devices
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["devices"] == 2 and res["used1"] == 1 and res["used2"] == 2
    np.testing.assert_allclose(res["2"], res["1"], rtol=1e-5)
    assert len(res["1"]) == 6 * 8


# -- bad input ------------------------------------------------------------------------------

def _fitter():
    I, v = _passive_data()
    return TraceFitter(PASSIVE, {"I": I}, {"v": v}, dt=0.1 * u.ms, n_samples=4)


def test_bounds_with_the_wrong_unit_are_refused():
    with pytest.raises(ValueError, match=r"bounds of 'gL' have unit mV, but gL has unit"):
        _fitter().fit({"gL": [1., 10.] * u.mV}, n_rounds=1)


def test_bounds_with_low_not_below_high_are_refused():
    with pytest.raises(ValueError, match=r"bounds of 'C' need low < high"):
        _fitter().fit({"C": [300., 100.] * u.pF}, n_rounds=1)
    with pytest.raises(ValueError, match=r"bounds of 'C' need low < high"):
        _fitter().fit({"C": [100., 100.] * u.pF}, n_rounds=1)
    with pytest.raises(ValueError, match=r"must be a pair \[low, high\]"):
        _fitter().fit({"C": [100.] * u.pF}, n_rounds=1)


def test_traces_of_different_lengths_are_refused():
    I, v = _passive_data()
    with pytest.raises(ValueError, match=r"output traces have shape \(3, 1400\).*input traces "
                                         r"\(3, 1500\)"):
        TraceFitter(PASSIVE, {"I": I}, {"v": v[:, :1400]}, dt=0.1 * u.ms)
    with pytest.raises(ValueError, match=r"different lengths \[1500, 1400\]"):
        TraceFitter(PASSIVE, {"I": [I[0], I[1, :1400]]}, {"v": v[:2]}, dt=0.1 * u.ms)


def test_unknown_parameter_names_suggest_the_near_miss():
    with pytest.raises(ValueError, match=r"parameter 'gl' is not in the model.*Did you mean "
                                         r"'gL'\?"):
        _fitter().fit({"gl": [1., 10.] * u.nS}, n_rounds=1)
    with pytest.raises(ValueError, match=r"not an argument of LIF.*Did you mean 'tau'\?"):
        TraceFitter(brainsim.neurons.LIF, {"x": np.zeros((1, 10)) * u.mV},
                    {"V": np.zeros((1, 10)) * u.mV}, dt=0.1 * u.ms).fit(
            {"taus": [1., 2.] * u.ms}, n_rounds=1)
    with pytest.raises(ValueError, match=r"output 'V' is not a variable of the model.*Did you "
                                         r"mean 'v'\?"):
        TraceFitter(PASSIVE, {"I": np.zeros((1, 10)) * u.nA}, {"V": np.zeros((1, 10)) * u.mV},
                    dt=0.1 * u.ms).fit({"gL": [1., 10.] * u.nS}, n_rounds=1)


@pytest.mark.slow
def test_fit_adex_example_meets_its_targets():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, os.path.join(root, "examples", "fit_adex.py"),
                          "--json"], capture_output=True, text=True, timeout=1800,
                         env=dict(os.environ, PYTHONPATH=root))
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert max(abs(e) for e in res["trace_rel_errors"].values()) < 0.05, res
    assert res["spike_gamma_test"] >= 0.9, res
