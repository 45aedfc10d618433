"""Fit an AdEx neuron to synthetic recordings: voltage traces first, then spike times only.

1. Voltage traces of an AdEx neuron (Brette & Gerstner 2005) with known
   parameters are simulated for three step currents and 0.5 mV of noise is
   added. ``TraceFitter`` recovers gL, C, a, b and tau_w from them. Each
   current has a subthreshold step (for gL, C, a, tau_w), then a step that
   makes the neuron fire, then a relaxation: the spikes' adaptation ``b``
   shows in the after-hyperpolarisation. The MSE's time weights leave out the
   spiking step, where a spike shifted by one step would dominate the error.
2. Spike times only, for fluctuating currents: ``SpikeFitter`` fits the same
   parameters (smooth van Rossum metric, gradients through the surrogate
   spike), and the gamma factor of the fitted model is measured on held-out
   currents it has not seen.

Run ``python examples/fit_adex.py`` (``--json``: one JSON line with the
errors last; ``--quick`` for a shorter search).
"""
from __future__ import annotations

import argparse
import json
import time

import brainunit as u
import numpy as np

from brainsim.fitting import MSEMetric, SpikeFitter, TraceFitter, gamma_factor

EQS = """
dv/dt = (gL*(EL - v) + gL*DeltaT*exp((v - VT)/DeltaT) + I - w) / C : volt
dw/dt = (a*(v - EL) - w) / tau_w : amp
"""
FIXED = {"EL": -70.6 * u.mV, "VT": -50.4 * u.mV, "DeltaT": 2. * u.mV, "Vr": -70.6 * u.mV}
TRUE = {"gL": 30. * u.nS, "C": 281. * u.pF, "a": 4. * u.nS, "b": 0.0805 * u.nA,
        "tau_w": 144. * u.ms}
BOUNDS = {"gL": [10., 60.] * u.nS, "C": [100., 500.] * u.pF, "a": [0.5, 10.] * u.nS,
          "b": [0.01, 0.3] * u.nA, "tau_w": [50., 300.] * u.ms}
DT = 0.1 * u.ms
KW = dict(dt=DT, method="euler", threshold="v > -40*mV", reset="v = Vr; w += b",
          param_init={"v": -70.6 * u.mV}, namespace=FIXED)


def step_currents() -> tuple:
    """Three currents: rest 50 ms, subthreshold 150 ms, firing 200 ms, relaxation 200 ms;
    and the time weights that leave out the firing step (and 20 ms after it)."""
    T = 6000
    I = np.zeros((3, T))
    I[:, 500:2000] = np.array([0.2, 0.35, 0.5])[:, None]
    I[:, 2000:4000] = np.array([0.7, 0.85, 1.0])[:, None]
    w = np.ones(T)
    w[2000:4200] = 0.
    return I * u.nA, w


def fluctuating_currents(rng: np.random.Generator, n: int, T: int) -> u.Quantity:
    """Ornstein-Uhlenbeck currents: mean 0.6 nA, sd 0.6 nA, correlation time 3 ms."""
    x = np.zeros((n, T))
    k = np.exp(-0.1 / 3.)
    for t in range(1, T):
        x[:, t] = k * x[:, t - 1] + np.sqrt(1 - k * k) * rng.normal(size=n)
    return (0.6 + 0.6 * x) * u.nA


def relative_errors(params: dict) -> dict:
    return {k: float(params[k].to_decimal(v.unit) / v.mantissa - 1.) for k, v in TRUE.items()}


def fit_traces(rng: np.random.Generator, n_rounds: int, n_samples: int) -> dict:
    I, w = step_currents()
    v = TraceFitter(EQS, {"I": I}, {"v": np.zeros(I.shape) * u.mV}, n_samples=1,
                    **KW).generate(TRUE)
    v_noisy = v + rng.normal(0., 0.5, v.shape) * u.mV
    fitter = TraceFitter(EQS, {"I": I}, {"v": v_noisy}, n_samples=n_samples, **KW)
    t0 = time.perf_counter()
    res = fitter.fit(BOUNDS, n_rounds=n_rounds, metric=MSEMetric(t_weights=w))
    return {"result": res, "seconds": time.perf_counter() - t0,
            "rel_errors": relative_errors(res.params)}


def fit_spikes(rng: np.random.Generator, n_rounds: int, n_samples: int) -> dict:
    T = 10000
    I_train, I_test = fluctuating_currents(rng, 3, T), fluctuating_currents(rng, 3, T)
    gen = SpikeFitter(EQS, {"I": I_train}, [[] * u.ms] * 3, n_samples=1, **KW)
    train, test = gen.generate(TRUE), gen.generate(TRUE, {"I": I_test})
    fitter = SpikeFitter(EQS, {"I": I_train}, train, n_samples=n_samples, **KW)
    t0 = time.perf_counter()
    res = fitter.fit(BOUNDS, n_rounds=n_rounds)
    seconds = time.perf_counter() - t0
    pred = fitter.generate(res.params, {"I": I_test})
    gammas = [gamma_factor(p, d, 2. * u.ms, T * DT) for p, d in zip(pred, test)]
    return {"result": res, "seconds": seconds, "gamma_train": res.gamma,
            "gamma_test": float(np.mean(gammas)), "n_spikes_test": [len(t) for t in test],
            "rel_errors": relative_errors(res.params)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    p.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    p.add_argument("--samples", type=int, default=64, help="candidates in parallel")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    rounds_t, rounds_s = (20, 20) if args.quick else (60, 60)

    tr = fit_traces(rng, rounds_t, args.samples)
    print(f"Trace fit ({args.samples} candidates x {rounds_t} rounds, {tr['seconds']:.1f} s), "
          f"MSE {tr['result'].error ** 0.5 * 1e3:.3f} mV rms (noise 0.5 mV):")
    print(f"  {'param':6s} {'true':>10s} {'fitted':>10s} {'rel. error':>10s}")
    for k, v in TRUE.items():
        got = tr["result"].params[k].to_decimal(v.unit)
        print(f"  {k:6s} {float(v.mantissa):10.4g} {float(got):10.4g} "
              f"{100 * tr['rel_errors'][k]:+9.2f}%   ({v.unit})")
    sp = fit_spikes(rng, rounds_s, args.samples)
    print(f"Spike fit ({args.samples} candidates x {rounds_s} rounds, {sp['seconds']:.1f} s): "
          f"gamma factor {sp['gamma_train']:.3f} on the training currents, "
          f"{sp['gamma_test']:.3f} on held-out currents ({sp['n_spikes_test']} spikes)")
    print("  relative errors: " + ", ".join(f"{k} {100 * e:+.1f}%"
                                             for k, e in sp["rel_errors"].items()))
    if args.json:
        print(json.dumps({
            "trace_rel_errors": tr["rel_errors"], "trace_mse_V2": tr["result"].error,
            "trace_seconds": tr["seconds"], "spike_gamma_train": sp["gamma_train"],
            "spike_gamma_test": sp["gamma_test"], "spike_rel_errors": sp["rel_errors"],
            "spike_seconds": sp["seconds"], "n_samples": args.samples}))


if __name__ == "__main__":
    main()
