"""Overhead of brainsim's object-oriented transforms against hand-written JAX.

1. Call overhead: ``brainsim.jit`` on a module with 50 small states, against
   ``jax.jit`` on the equivalent pure function that takes and returns the 50
   arrays. Target: at most 1.3x.
2. Loop overhead: a 10,000-step ``brainsim.for_loop`` of a 4,000-neuron LIF,
   against a hand-written ``jax.lax.scan`` of the same arithmetic. Target:
   at most 1.1x.

Both sides run interleaved in the same process, repeated, and the medians
are compared, because this machine is shared and noisy.

Usage: python benchmarks/transform_overhead.py [--json] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp

import brainsim


def _median_time(fn, number: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            r = fn()
        jax.block_until_ready(r)
        out.append((time.perf_counter() - t0) / number)
    return out


class Many(brainsim.Module):
    def __init__(self, n_states: int, size: int):
        super().__init__()
        self.xs = [brainsim.HiddenState(jnp.full((size,), float(k))) for k in range(n_states)]


def call_overhead(n_states: int = 50, size: int = 4, number: int = 2000, repeats: int = 15):
    model = Many(n_states, size)

    @brainsim.jit
    def step():
        for s in model.xs:
            s.value = s.value * 0.5 + 1.0

    @jax.jit
    def pure(xs):
        return [x * 0.5 + 1.0 for x in xs]

    xs = [s.value for s in model.xs]
    step()
    xs = pure(xs)

    def run_pure():
        nonlocal xs
        xs = pure(xs)
        return xs

    bs, jx = [], []
    for _ in range(repeats):  # interleave so both see the same machine load
        bs += _median_time(step, number, 1)
        jx += _median_time(run_pure, number, 1)
    return statistics.median(bs), statistics.median(jx)


def loop_overhead(n: int = 4000, steps: int = 10_000, repeats: int = 7):
    tau, v_th, dt = 20.0, 1.0, 0.1

    class LIF(brainsim.DynamicsModule):
        def init_state(self, batch_size=None):
            self.v = brainsim.HiddenState(jnp.zeros(self.varshape))

        def update(self, x):
            v = self.v.value + dt / tau * (x - self.v.value)
            spike = v >= v_th
            self.v.value = jnp.where(spike, 0.0, v)
            return spike

    lif = brainsim.init_states(LIF(n))
    drive = jnp.linspace(0.5, 2.0, n)

    @brainsim.jit
    def run_bs():
        return brainsim.for_loop(lambda: lif(drive).sum(), length=steps)

    @jax.jit
    def run_jax(v):
        def body(v, _):
            v = v + dt / tau * (drive - v)
            spike = v >= v_th
            return jnp.where(spike, 0.0, v), spike.sum()
        return jax.lax.scan(body, v, None, length=steps)

    v = jnp.zeros(n)
    jax.block_until_ready(run_bs())
    jax.block_until_ready(run_jax(v))
    bs, jx = [], []
    for _ in range(repeats):
        bs += _median_time(run_bs, 1, 1)
        jx += _median_time(lambda: run_jax(v), 1, 1)
    return statistics.median(bs), statistics.median(jx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

    c_bs, c_jx = call_overhead(repeats=args.repeats)
    l_bs, l_jx = loop_overhead(repeats=max(3, args.repeats // 2))
    rows = [
        ("call: jit, 50 states", c_bs * 1e6, c_jx * 1e6, c_bs / c_jx, 1.3, "us/call"),
        ("loop: 10k-step LIF 4000", l_bs * 1e3, l_jx * 1e3, l_bs / l_jx, 1.1, "ms/run"),
    ]
    print(f"machine: {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"backend {jax.default_backend()}")
    print(f"{'benchmark':<26}{'brainsim':>12}{'pure jax':>12}{'ratio':>8}{'target':>8}  unit")
    for name, b, j, r, t, unit in rows:
        print(f"{name:<26}{b:>12.2f}{j:>12.2f}{r:>8.2f}{t:>8.2f}  {unit}")
    if args.json:
        print(json.dumps({
            "call_brainsim_us": c_bs * 1e6, "call_jax_us": c_jx * 1e6, "call_ratio": c_bs / c_jx,
            "loop_brainsim_ms": l_bs * 1e3, "loop_jax_ms": l_jx * 1e3, "loop_ratio": l_bs / l_jx,
        }))


if __name__ == "__main__":
    main()
