"""Cost of one integration step per method, and of unit handling.

Integrates a population of N leaky integrators (dV/dt = (-(V - V_rest) + R I) / tau)
for S steps with ``brainsim.integrators.integrate`` under ``jax.jit``, once with
brainunit Quantities (mV, ms) and once with plain floats, and reports the median
wall time per step. Ratios to Euler (same run) are the machine-independent figures.

Usage: python benchmarks/integrators.py [--n 100000] [--steps 1000] [--repeats 7] [--json]
"""
import argparse
import json
import statistics
import time

import brainunit as u
import jax
import jax.numpy as jnp

from brainsim import integrators


def _time(fn, repeats):
    jax.block_until_ready(fn())          # compile
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--n', type=int, default=100_000)
    ap.add_argument('--steps', type=int, default=1000)
    ap.add_argument('--repeats', type=int, default=7)
    ap.add_argument('--json', action='store_true')
    a = ap.parse_args()

    tau, v_rest, R = 10. * u.ms, -65. * u.mV, 1. * u.mohm
    f_units = lambda v, t, I: (-(v - v_rest) + R * I) / tau
    f_plain = lambda v, t, I: (-(v + 65.) + I * 1e-3 * 1e3) / 10.   # same numbers, no units
    v0 = jnp.linspace(-70., -50., a.n)
    rows = []
    for method in integrators.METHODS:
        run_u = jax.jit(lambda v: integrators.integrate(f_units, v * u.mV, 0. * u.ms, 0.1 * u.ms, a.steps,
                                                        10. * u.nA, method=method).to_decimal(u.mV))
        run_p = jax.jit(lambda v: integrators.integrate(f_plain, v, 0., 0.1, a.steps, 10., method=method))
        tu, tp = _time(lambda: run_u(v0), a.repeats), _time(lambda: run_p(v0), a.repeats)
        rows.append({'method': method, 'us_per_step_units': 1e6 * tu / a.steps,
                     'us_per_step_plain': 1e6 * tp / a.steps, 'units_over_plain': tu / tp})
    base = rows[0]['us_per_step_plain']
    print(f'N={a.n} neurons, {a.steps} steps, median of {a.repeats}, device={jax.devices()[0].platform}')
    print(f"{'method':<10} {'us/step (units)':>16} {'us/step (plain)':>16} {'units/plain':>12} {'vs euler':>9}")
    for r in rows:
        r['plain_vs_euler'] = r['us_per_step_plain'] / base
        print(f"{r['method']:<10} {r['us_per_step_units']:>16.1f} {r['us_per_step_plain']:>16.1f} "
              f"{r['units_over_plain']:>12.2f} {r['plain_vs_euler']:>9.2f}")
    if a.json:
        print(json.dumps({'benchmark': 'integrators', 'n': a.n, 'steps': a.steps, 'rows': rows}))


if __name__ == '__main__':
    main()
