"""Spike-propagation designs for the COBA network, timed inside lax.scan on this CPU.

    python benchmarks/propagation_designs.py [--steps 10000] [--rate 20] [--json]

Each design turns one step's spike vector (3200 E + 800 I neurons, p = 0.02, scalar weights)
into the conductance increments of all 4000 neurons, inside a 10^4-step lax.scan with the
conductances decaying, like the network does. Prints microseconds per step (median of 3), and
fails if a design's conductances differ from the first design's beyond float32 rounding.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import brainsim.event as ev  # noqa: E402
from brainsim.event._active import compact  # noqa: E402

NE, NI = 3200, 800
N = NE + NI


def tables(We, Wi):
    """(N_pre, L) target table, I targets offset by N so one scatter fills [ge | gi]."""
    rows = []
    for W, off in ((We, 0), (Wi, N)):
        ip, ind = np.asarray(W.indptr), np.asarray(W.indices)
        L = int(np.diff(ip).max())
        t = np.full((W.shape[0], L), 2 * N, np.int32)
        for i in range(W.shape[0]):
            t[i, :ip[i + 1] - ip[i]] = ind[ip[i]:ip[i + 1]] + off
        rows.append(t)
    L = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, L - r.shape[1])), constant_values=2 * N) for r in rows]
    return jnp.asarray(np.concatenate(rows))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--rate", type=float, default=20.)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    We = ev.random_conn(NE, N, prob=0.02, seed=0, weight=np.float32(0.6))
    Wi = ev.random_conn(NI, N, prob=0.02, seed=1, weight=np.float32(6.7))
    tab = tables(We, Wi)
    w_row = jnp.concatenate([jnp.full(NE, 0.6), jnp.full(NI, 6.7)]).astype(jnp.float32)
    spk = (jax.random.uniform(jax.random.PRNGKey(0), (a.steps, N)) < a.rate * 1e-4).astype(jnp.float32)
    de, di = np.float32(np.exp(-0.1 / 5)), np.float32(np.exp(-0.1 / 10))

    def loop(prop):
        def body(c, s):
            ge, gi = c
            xe, xi = prop(s)
            return (ge * de + xe, gi * di + xi), None
        return jax.jit(lambda S: jax.lax.scan(body, (jnp.zeros(N), jnp.zeros(N)), S)[0])

    def event_csr(s):
        return ev.BinaryArray(s[:NE]) @ We, ev.BinaryArray(s[NE:]) @ Wi

    def fused(cap, how):
        def prop(s):
            def fast(s):
                if how == "prefix":
                    idx, _ = compact((s != 0)[None], cap)
                    idx = idx[0]
                else:
                    (idx,) = jnp.nonzero(s, size=cap, fill_value=N)
                t = jnp.take(tab, idx, axis=0, mode="fill", fill_value=2 * N)
                w = jnp.take(w_row, idx, mode="fill", fill_value=0.)
                return jnp.zeros(2 * N).at[t].add(jnp.broadcast_to(w[:, None], t.shape), mode="drop")

            def slow(s):   # every row; only when more than `cap` neurons spike at once
                return jnp.zeros(2 * N).at[tab].add(
                    jnp.broadcast_to((s * w_row)[:, None], tab.shape), mode="drop")
            out = jax.lax.cond(jnp.sum(s) <= cap, fast, slow, s)
            return out[:N], out[N:]
        return prop

    def post_gather(s):
        return (jnp.zeros(N),) * 2   # placeholder replaced below

    # fan-in table for the gather formulation
    rows = np.repeat(np.arange(N), [tab.shape[1]] * N)
    flat = np.asarray(tab).reshape(-1)
    ok = flat < 2 * N
    pre, tgt = rows[ok], flat[ok]
    order = np.argsort(tgt, kind="stable")
    cnt = np.bincount(tgt, minlength=2 * N)
    K = cnt.max()
    fan = np.full((2 * N, K), N, np.int32)
    start = np.concatenate([[0], np.cumsum(cnt)])
    sp = pre[order]
    for j in range(2 * N):
        fan[j, :cnt[j]] = sp[start[j]:start[j + 1]]
    fan = jnp.asarray(fan)

    def gather(s):
        sw = jnp.append(s * w_row, 0.)
        out = jnp.take(sw, fan).sum(1)
        return out[:N], out[N:]

    designs = {
        "event.CSR x2 (brainsim.event, bucketed caps)": event_csr,
        "fused E+I, prefix-count compaction, cap 64 + cond": fused(64, "prefix"),
        "fused E+I, jnp.nonzero(size=64) + cond": fused(64, "nonzero"),
        "fused E+I, prefix-count, cap 32 + cond": fused(32, "prefix"),
        "post-synaptic gather (fan-in table, ~80 per neuron)": gather,
    }
    print(f"{a.steps} steps, {N} neurons, {a.rate:g} Hz -> {float(spk.sum()) / a.steps:.1f} spikes/step")
    ref, rows = None, {}
    for name, prop in designs.items():
        f = loop(prop)
        out = jax.block_until_ready(f(spk))
        if ref is None:
            ref = out
        err = max(float(jnp.max(jnp.abs(o - r))) for o, r in zip(out, ref))
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            jax.block_until_ready(f(spk))
            ts.append(time.perf_counter() - t0)
        rows[name] = dict(us_per_step=float(np.median(ts)) / a.steps * 1e6, max_abs_diff=err)
        print(f"{name:55s} {rows[name]['us_per_step']:8.1f} us/step   max|diff|={err:.2e}")
        scale = max(float(jnp.max(jnp.abs(r))) for r in ref)
        if err > 1e-5 * max(scale, 1.):     # sums in another order: ~1e-7 of the scale
            raise SystemExit(f"propagation_designs: '{name}' differs from the first design by {err:.2e}")
    # dense product for scale (fewer steps: it is slow)
    Wd = jnp.zeros((N, 2 * N)).at[jnp.arange(N)[:, None], tab].add(w_row[:, None], mode="drop")
    f = loop(lambda s: (lambda o: (o[:N], o[N:]))(s @ Wd))
    jax.block_until_ready(f(spk[:200]))
    t0 = time.perf_counter()
    jax.block_until_ready(f(spk[:200]))
    rows["dense float matmul (4000 x 8000)"] = dict(us_per_step=(time.perf_counter() - t0) / 200 * 1e6)
    print(f"{'dense float matmul (4000 x 8000)':55s} {rows['dense float matmul (4000 x 8000)']['us_per_step']:8.1f} us/step")
    if a.json:
        print(json.dumps(dict(benchmark="propagation_designs", steps=a.steps, rate_hz=a.rate,
                              designs=rows)))


if __name__ == "__main__":
    main()
