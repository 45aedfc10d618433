"""Benchmark of the latency-input layer: compiled FFI kernels vs numba vs pure JAX.

Times ``train.first_spike_current``: forward, backward (its VJP in the weights for a given
cotangent: the gather) and a loss's value-and-gradient (forward + backward) at the Fashion-MNIST training shape (T = 100, B = 256, 784 -> 100) for
several fractions of inputs that spike. Three implementations, in the same process:
``ffi`` (brainsim's XLA FFI kernels, ``set_backend('cpu_kernel')``), ``jax`` (the pure-JAX
dense one-hot product, ``set_backend('jax')``) and ``numba`` (the scatter/gather numba kernels
behind ``jax.pure_callback`` that brainsim used before, rebuilt here; skipped without numba).
Calls are interleaved (one call of each per round) so machine load hits all alike; the table
gives medians and the median of per-round ratios. ``--json`` prints one JSON line.

Run: ``PYTHONPATH=. python benchmarks/latency_kernels.py [--json] [--quick]``
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

import brainsim.event as ev
from brainsim import train


PHASES = ("fwd", "bwd", "fwd_bwd")


def _numba_current():
    """The previous numba + pure_callback implementation, or None without numba."""
    try:
        import numba as nb
    except ImportError:
        return None

    @nb.njit(parallel=True, cache=False)
    def scatter(steps, w, num_steps):
        n_batch, n_in = steps.shape
        out = np.zeros((num_steps, n_batch, w.shape[1]), w.dtype)
        for b in nb.prange(n_batch):
            for i in range(n_in):
                t = steps[b, i]
                if 0 <= t < num_steps:
                    for h in range(w.shape[1]):
                        out[t, b, h] += w[i, h]
        return out

    @nb.njit(parallel=True, cache=False)
    def gather(steps, g):
        num_steps, n_batch, n_out = g.shape
        dw = np.zeros((steps.shape[1], n_out), g.dtype)
        for i in nb.prange(steps.shape[1]):
            for b in range(n_batch):
                t = steps[b, i]
                if 0 <= t < num_steps:
                    for h in range(n_out):
                        dw[i, h] += g[t, b, h]
        return dw

    @partial(jax.custom_vjp, nondiff_argnums=(2,))
    def current(steps, w, num_steps):
        shape = jax.ShapeDtypeStruct((num_steps, steps.shape[0], w.shape[1]), w.dtype)
        return jax.pure_callback(lambda s, w: scatter(np.asarray(s), np.asarray(w), num_steps),
                                 shape, steps, w)

    def fwd(steps, w, num_steps):
        return current(steps, w, num_steps), steps

    def bwd(num_steps, steps, g):
        shape = jax.ShapeDtypeStruct((steps.shape[1], g.shape[2]), g.dtype)
        dw = jax.pure_callback(lambda s, g: gather(np.asarray(s), np.asarray(g)), shape, steps, g)
        return np.zeros(steps.shape, jax.dtypes.float0), dw

    current.defvjp(fwd, bwd)
    return current


def _build(name, fn, steps, w, g, T):
    """Jitted forward, backward (the VJP in the weights) and loss value-and-gradient of one
    implementation, traced under its backend; the cotangent ``g`` is an argument, not a constant."""
    ev.set_backend("cpu_kernel" if name == "ffi" else "jax")
    try:
        f = lambda w: fn(steps, w, T)  # noqa: E731
        phases = {"fwd": (jax.jit(f), (w,)),
                  "bwd": (jax.jit(lambda w, g: jax.vjp(f, w)[1](g)[0]), (w, g)),
                  "fwd_bwd": (jax.jit(jax.value_and_grad(lambda w, g: jnp.sum(g * f(w)))), (w, g))}
        for fun, args in phases.values():
            jax.block_until_ready(fun(*args))   # compiled under this backend
    finally:
        ev.set_backend("auto")
    return phases


def _time(fun, args):
    t = time.perf_counter()
    jax.block_until_ready(fun(*args))
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke test")
    p.add_argument("--rounds", type=int, default=None)
    a = p.parse_args(argv)
    rounds = a.rounds or (3 if a.quick else 15)
    T, B, N, H = 100, 256, 784, 100
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(0, 1 / np.sqrt(N), (N, H)), jnp.float32)
    g = jnp.asarray(rng.normal(size=(T, B, H)), jnp.float32)
    impls = {"ffi": train.first_spike_current, "numba": _numba_current(),
             "jax": train.first_spike_current}
    impls = {k: v for k, v in impls.items() if v is not None}
    rows = []
    for active in (0.1, 0.5, 1.0):
        steps = rng.integers(0, T, (B, N))
        steps = jnp.asarray(np.where(rng.random((B, N)) < active, steps, T), jnp.int32)
        built = {k: _build(k, fn, steps, w, g, T) for k, fn in impls.items()}
        ref = {ph: fun(*args) for ph, (fun, args) in built["jax"].items()}
        for phases in built.values():   # all implementations agree before they are timed
            for ph, (fun, args) in phases.items():
                for x, r in zip(jax.tree.leaves(fun(*args)), jax.tree.leaves(ref[ph])):
                    np.testing.assert_allclose(x, r, rtol=1e-4, atol=1e-4)
        t = {k: {ph: [] for ph in PHASES} for k in built}
        for _ in range(rounds):
            for k, phases in built.items():
                for ph, (fun, args) in phases.items():
                    t[k][ph].append(_time(fun, args))
        for phase in PHASES:
            row = {"active": active, "phase": phase}
            for k in built:
                row[f"{k}_ms"] = 1e3 * float(np.median(t[k][phase]))
            for k in ("numba", "jax"):
                if k in built:
                    ratio = np.array(t["ffi"][phase]) / np.array(t[k][phase])
                    row[f"ffi_over_{k}"] = float(np.median(ratio))
            rows.append(row)
    cols = [c for c in rows[0] if c not in ("active", "phase")]
    print(f"{'active':>6} {'phase':>8} " + " ".join(f"{c:>14}" for c in cols))
    for r in rows:
        print(f"{r['active']:>6} {r['phase']:>8} " + " ".join(f"{r[c]:>14.3f}" for c in cols))
    if a.json:
        print(json.dumps({"benchmark": "latency_kernels", "shape": [T, B, N, H], "rounds": rounds,
                          "cpus": os.cpu_count(),
                          "numba_threads": os.environ.get("NUMBA_NUM_THREADS"), "machine": platform.processor() or platform.machine(),
                          "jax": jax.__version__, "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
