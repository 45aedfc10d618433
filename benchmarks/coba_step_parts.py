"""Where the COBA-LIF step's time goes on XLA:CPU (4,000 neurons, dt = 0.1 ms, 10^4 steps).

    PYTHONPATH=. python benchmarks/coba_step_parts.py [--repeats 5] [--threads 1] \\
        [--vector-width 256] [--json]

Wall microseconds per step (median of the repeats) of:
the example's whole step (``EINet.update`` in ``brainsim.for_loop``, nothing recorded);
``LIFRef`` alone under a constant current (no synapses);
the two CSR products of 0.2 % active spikes plus the decay-add of the conductance;
a hand-written JAX LIFRef step with one slope for all neurons, and with a slope per neuron
(one ``expm1`` per neuron, as exponential Euler with conductances needs);
XLA:CPU ``expm1`` and ``exp`` alone over 4,000 floats;
and the cost of one more unfusable 4,000-element thunk in the loop.
Its purpose is to say which part a faster step must attack; the floor is ``ei_network.py``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import brainsim  # noqa: E402
from brainsim import event  # noqa: E402
from ei_coba_lif import EINet, _whole_rows, connectivity  # noqa: E402

N, T = 4000, 10000


def _us_per_step(f, repeats: int) -> float:
    jax.block_until_ready(f())
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(f())
        ts.append(time.perf_counter() - t)
    return sorted(ts)[len(ts) // 2] / T * 1e6


def _jit(fn):
    """``jax.jit`` at the SIMD width brainsim.jit compiles for, so that the rows compare."""
    width = brainsim.environ.get_cpu_vector_width()     # 256 is XLA's own default
    opts = {} if width == 256 else {"xla_cpu_prefer_vector_width": width}
    return jax.jit(fn, compiler_options=opts)


def _scan(step, x0):
    f = _jit(lambda x: jax.lax.scan(lambda c, _: (step(c), None), x, None, length=T)[0])
    return lambda: f(x0)


def _hand_lif(per_neuron: bool):
    """LIFRef with R I = 20 mV, tau 20 ms, exponential Euler, as plain JAX."""
    def step(c):
        V, ref = c
        r = ref > 0
        # V * 0. gives the slope the neurons' shape, so expm1 runs once per neuron
        a = -((1. + V * 0.) if per_neuron else 1.) / 20.
        Vn = V + (jnp.expm1(a * 0.1) / a) * (a * V + (-60. + 20.) / 20.)
        Vn = jnp.where(r, -60., Vn)
        s = (Vn > -50.) & ~r
        return jnp.where(s, -60., Vn), jnp.where(s, 50, jnp.maximum(ref - 1, 0))
    return _scan(step, (jnp.linspace(-60., -50., N), jnp.zeros(N, jnp.int32)))


def _thunks(k: int):
    def step(x):
        for _ in range(k):
            x = jax.lax.optimization_barrier(x * 0.999 + 0.001)
        return x
    return _scan(step, jnp.ones(N))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    p.add_argument("--vector-width", type=int, default=0, choices=[0, 128, 256, 512],
                   help="SIMD bits (brainsim.environ.set_cpu_vector_width); 0: the default")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each XLA program (brainsim.environ.set_cpu_threads); 0: XLA's")
    a = p.parse_args()
    if a.threads:
        brainsim.environ.set_cpu_threads(a.threads)
    if a.vector_width:
        brainsim.environ.set_cpu_vector_width(a.vector_width)
    rows = {}
    with brainsim.environ.context(dt=0.1 * u.ms):
        net = EINet(1.0, 0)
        brainsim.init_states(net)
        whole = brainsim.jit(lambda: brainsim.for_loop(lambda: (net.update(), None)[1], length=T))
        rows["whole step"] = _us_per_step(lambda: (whole(), net.neu.V.value), a.repeats)
        neu = net.neu
        alone = brainsim.jit(lambda: brainsim.for_loop(lambda: (neu(200. * u.pA), None)[1],
                                                       length=T))
        rows["LIFRef alone"] = _us_per_step(lambda: (alone(), neu.V.value), a.repeats)
    We, Wi = connectivity("csr", 3200, 800, 1.0, 0)
    A, B = _whole_rows(We, 0, N), _whole_rows(Wi, 3200, N)
    spikes = jax.random.bernoulli(jax.random.PRNGKey(0), 0.002, (T, N)).astype(jnp.float32)

    def prop(g, s):
        x = [u.get_mantissa(event.BinaryArray(s) @ W) for W in (A, B)]
        return g * 0.98 + x[0] + x[1], None
    f = _jit(lambda: jax.lax.scan(prop, jnp.zeros(N), spikes)[0])
    rows["2 CSR products + decay-add"] = _us_per_step(f, a.repeats)
    rows["hand JAX LIFRef, one slope"] = _us_per_step(_hand_lif(False), a.repeats)
    rows["hand JAX LIFRef, slope per neuron"] = _us_per_step(_hand_lif(True), a.repeats)
    rows["expm1 alone"] = _us_per_step(_scan(lambda x: jnp.expm1(x) * 0.5 - 0.01,
                                              jnp.full(N, -0.01)), a.repeats)
    rows["exp alone"] = _us_per_step(_scan(lambda x: jnp.exp(x) * 0.5 - 0.51,
                                            jnp.full(N, -0.01)), a.repeats)
    rows["one more thunk"] = (_us_per_step(_thunks(14), a.repeats)
                              - _us_per_step(_thunks(1), a.repeats)) / 13
    print(f"COBA step parts, {N} neurons, {brainsim.environ.get_cpu_threads()} thread(s), "
          f"{brainsim.environ.get_cpu_vector_width()}-bit SIMD, "
          f"us per step (median of {a.repeats})")
    for k, v in rows.items():
        print(f"  {k:36s} {v:8.2f}")
    if a.json:
        print(json.dumps({"n_neurons": N, "vector_width": brainsim.environ.get_cpu_vector_width(),
                          "us_per_step": rows}))


if __name__ == "__main__":
    main()
