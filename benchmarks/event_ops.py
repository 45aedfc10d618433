"""Benchmark of event-driven products (issue 3).

Times ``spikes @ M`` per matvec for dense, CSR, FixedNumPerPre and JITCScalarR at
N_pre = N_post in {4000, 40000}, p = 0.02 and 0.1 / 1 / 10 % active inputs, both as a jitted call
(matrix and spikes passed as arguments) and per step inside ``jax.lax.scan`` (the simulation
setting), on the compiled kernels and on the pure-JAX path in the same run. The all-synapse
direction (``M @ x`` and ``x @ M`` with a dense float x) is timed for CSR and JITCScalarR too.
A plain numba loop over CSR rows is the compiled-CPU reference; brainevent is compared
when importable. ``--json`` prints one JSON line; ``--big`` adds the 1e6 x 1e6 JITC matvec
(kernel and pure JAX, each in a fresh process).

Run: ``PYTHONPATH=. python benchmarks/event_ops.py [--json] [--big] [--quick]``; to include
brainevent, run it with a Python whose environment also has ``brainevent==0.2.*``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import brainsim.event as ev


def _timeit(f, *a, reps=50):
    jax.block_until_ready(f(*a))
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(f(*a))
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _nbytes(M):
    return int(sum(np.asarray(x).nbytes for x in jax.tree.leaves(M)))


def _numba_ref(M, s):
    try:
        import numba
    except ImportError:
        return None

    @numba.njit(cache=False)
    def kernel(data, indices, indptr, active, n):
        out = np.zeros(n, np.float32)
        for i in active:
            for k in range(indptr[i], indptr[i + 1]):
                out[indices[k]] += data[k]
        return out

    data = np.broadcast_to(np.asarray(M.data, np.float32), (M.nse,)).copy()
    ind, ptr = np.asarray(M.indices), np.asarray(M.indptr)
    sn = np.asarray(s)

    def f():
        return kernel(data, ind, ptr, np.nonzero(sn)[0], M.shape[1])
    f()
    ts = []
    for _ in range(200):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts))


def _brainevent(csr, s, reps):
    """brainevent 0.2.x's ``BinaryArray @ CSR`` per CPU backend, when it is importable.

    It has to live in the same environment as brainsim (e.g. a venv with both); its
    backend switch clears JAX's caches, so each backend is compiled and timed in turn.
    """
    try:
        import brainevent
    except ImportError:
        return {}
    if csr.shape[0] > 8000:
        # brainevent's jax_raw path makes XLA constant-fold for minutes at 40000 neurons;
        # the comparison the issue asks for is at 4000.
        return {}
    data = jnp.asarray(np.broadcast_to(np.asarray(csr.data, np.float32), (1,)))
    M = brainevent.CSR((data, jnp.asarray(csr.indices), jnp.asarray(csr.indptr)), shape=csr.shape)
    dense = np.asarray(csr.todense()) if csr.shape[0] <= 8000 else None
    out = {}
    for backend in ("jax_raw", "numba"):
        try:
            brainevent.config.set_backend("cpu", backend)
            f = jax.jit(lambda s, M: brainevent.BinaryArray(s) @ M)
            if dense is not None:  # only compare like with like
                np.testing.assert_allclose(np.asarray(f(s, M)), np.asarray(s) @ dense, rtol=1e-5)
            out[f"brainevent_{backend}_us"] = _timeit(f, s, M, reps=reps) * 1e6
        except Exception as err:  # report, do not hide, a backend that fails here
            print(f"brainevent backend {backend} failed: {type(err).__name__}: {err}")
        finally:
            brainevent.config.set_backend("cpu", None)
    return out


def run(sizes, acts, reps, steps=200):
    rows = []
    for n in sizes:
        p = 0.02
        csr = ev.random_conn(n, n, prob=p, seed=0, weight=0.5)
        fpre = ev.random_conn(n, n, num=int(p * n), seed=0, format="fixed_pre", weight=0.5)
        jitc = ev.JITCScalarR((0.5, p, 0), shape=(n, n))
        mats = {"csr": csr, "fixed_pre": fpre, "jitc_r": jitc}
        dense = np.asarray(csr.todense()) if n <= 8000 else None
        rng = np.random.default_rng(1)
        for act in acts:
            s = np.zeros(n, np.float32)
            s[rng.choice(n, max(1, int(act * n)), replace=False)] = 1.0
            S = jnp.asarray(np.stack([np.roll(s, 17 * k) for k in range(steps)]))
            res = {"n": n, "active": act}
            if dense is not None:
                W = jnp.asarray(dense)
                res["dense_us"] = _timeit(jax.jit(lambda s, W: s @ W), S[0], W, reps=reps) * 1e6
                res["dense_MB"] = dense.nbytes / 2**20
                res["ev_dense_us"] = _timeit(jax.jit(lambda s, W: ev.BinaryArray(s) @ W), S[0], W, reps=reps) * 1e6
            for name, M in mats.items():
                # "<name>_us": default backend (the compiled kernel where built and applicable);
                # "<name>_jax_us": the pure-JAX products, measured in the same run
                backends = [("", "auto")]
                if ev.kernels_available():
                    backends.append(("_jax", "jax"))
                for suffix, backend in backends:
                    ev.set_backend(backend)
                    f = jax.jit(lambda s, M: ev.BinaryArray(s) @ M)
                    res[f"{name}{suffix}_us"] = _timeit(f, S[0], M, reps=reps) * 1e6

                    def scan(S, M):
                        def body(c, s):
                            return c + ev.BinaryArray(s) @ M, None
                        return jax.lax.scan(body, jnp.zeros(n), S)[0]
                    res[f"{name}{suffix}_scan_us"] = _timeit(jax.jit(scan), S, M, reps=max(3, reps // 10)) * 1e6 / steps
                    ev.set_backend("auto")
                res[f"{name}_MB"] = _nbytes(M) / 2**20
            res["jitc_over_csr"] = res["jitc_r_us"] / res["csr_us"]
            res.update(_brainevent(csr, S[0], reps))
            ref = _numba_ref(csr, S[0])
            if ref is not None:
                res["numba_loop_us"] = ref * 1e6
            rows.append(res)
    return rows


def interleaved(n=4000, act=0.01, reps=400):
    """``spikes @ JITCScalarR`` against ``spikes @ CSR`` (p = 0.02), calls alternated one by one.

    On a loaded machine the load drifts between two timing loops; alternating the calls gives
    both the same conditions, so the ratio of the medians is the figure to quote.
    """
    csr = ev.random_conn(n, n, prob=0.02, seed=0, weight=0.5)
    jitc = ev.JITCScalarR((0.5, 0.02, 0), shape=(n, n))
    s = np.zeros(n, np.float32)
    s[np.random.default_rng(1).choice(n, max(1, int(act * n)), replace=False)] = 1.0
    s = jnp.asarray(s)
    f = jax.jit(lambda s, M: ev.BinaryArray(s) @ M)
    ts = {"csr": [], "jitc": []}
    for M in (csr, jitc):
        jax.block_until_ready(f(s, M))
    for _ in range(reps):
        for name, M in (("csr", csr), ("jitc", jitc)):
            t = time.perf_counter()
            jax.block_until_ready(f(s, M))
            ts[name].append(time.perf_counter() - t)
    c, j = (float(np.median(ts[k])) * 1e6 for k in ("csr", "jitc"))
    return {"interleaved_n": n, "interleaved_active": act, "interleaved_csr_us": c,
            "interleaved_jitc_us": j, "interleaved_jitc_over_csr": j / c}


def all_synapse(sizes, reps):
    """``M @ x`` and ``x @ M`` with a dense float x (every synapse is visited), both backends."""
    rows = []
    for n in sizes:
        x = jnp.asarray(np.random.default_rng(2).standard_normal(n).astype(np.float32))
        mats = {"csr": ev.random_conn(n, n, prob=0.02, seed=0, weight=0.5),
                "jitc_r": ev.JITCScalarR((0.5, 0.02, 0), shape=(n, n))}
        res = {"n": n}
        for name, M in mats.items():
            for suffix, backend in (("", "auto"), ("_jax", "jax")):
                ev.set_backend(backend)
                for op, f in (("mx", lambda x, M: M @ x), ("xm", lambda x, M: x @ M)):
                    res[f"{name}_{op}{suffix}_us"] = _timeit(jax.jit(f), x, M, reps=reps) * 1e6
                ev.set_backend("auto")
        res["jitc_over_csr_mx"] = res["jitc_r_mx_us"] / res["csr_mx_us"]
        res["jitc_over_csr_xm"] = res["jitc_r_xm_us"] / res["csr_xm_us"]
        rows.append(res)
    return rows


def big_jitc(backend="auto"):
    """1e6 x 1e6 JITC matvec at prob 1e-4 with 1 % active, in a fresh process for peak memory."""
    code = (
        "import resource, time, numpy as np, jax, jax.numpy as jnp, brainsim.event as ev\n"
        f"ev.set_backend({backend!r})\n"
        "n=1_000_000; M=ev.JITCScalarR((1.0,1e-4,0),shape=(n,n))\n"
        "s=np.zeros(n,np.float32); s[np.random.default_rng(0).choice(n,n//100,replace=False)]=1\n"
        "s=jnp.asarray(s); f=jax.jit(lambda s,M: ev.BinaryArray(s)@M)\n"
        "t=time.perf_counter(); y=jax.block_until_ready(f(s,M)); first=time.perf_counter()-t\n"
        "ts=[]\n"
        "for _ in range(9):\n"
        "    t=time.perf_counter(); jax.block_until_ready(f(s,M)); ts.append(time.perf_counter()-t)\n"
        "r0=resource.getrusage(resource.RUSAGE_SELF)\n"
        "for _ in range(5): jax.block_until_ready(f(s,M))\n"
        "r1=resource.getrusage(resource.RUSAGE_SELF)\n"
        "cpu=(r1.ru_utime+r1.ru_stime-r0.ru_utime-r0.ru_stime)/5\n"
        "ma=f.lower(s,M).compile().memory_analysis()\n"
        "mb=(ma.temp_size_in_bytes+ma.argument_size_in_bytes+ma.output_size_in_bytes)/2**20\n"
        "print(float(np.median(ts)), first, mb, float(y.sum()), cpu)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(["."] + sys.path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    t, first, mb, tot, cpu = map(float, out.stdout.split())
    k = "jitc_1e6" if backend == "auto" else f"jitc_1e6_{backend}"
    return {f"{k}_s": t, f"{k}_cpu_s": cpu, f"{k}_first_call_s": first, f"{k}_xla_MB": mb, f"{k}_sum": tot}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--big", action="store_true")
    ap.add_argument("--quick", action="store_true", help="4000 neurons only")
    ap.add_argument("--only-big", action="store_true", help="just the 1e6 JITC case")
    args = ap.parse_args()
    sizes = [4000] if args.quick else [4000, 40000]
    rows = [] if args.only_big else run(sizes, [0.001, 0.01, 0.1], reps=50)
    cols = ["n", "active", "dense_us", "ev_dense_us", "csr_us", "csr_scan_us", "csr_jax_us",
            "csr_jax_scan_us", "fixed_pre_us", "fixed_pre_scan_us", "fixed_pre_jax_us",
            "fixed_pre_jax_scan_us", "jitc_r_us", "jitc_r_scan_us", "jitc_r_jax_us",
            "jitc_r_jax_scan_us", "jitc_over_csr", "numba_loop_us",
            "brainevent_jax_raw_us", "brainevent_numba_us", "csr_MB", "jitc_r_MB"]
    print(f"event backend: {ev.get_backend()}, kernels built: {ev.kernels_available()}")
    print(" ".join(f"{c:>14}" for c in cols))
    for r in rows:
        print(" ".join(f"{r.get(c, float('nan')):>14.4g}" for c in cols))
    dense_x = [] if args.only_big else all_synapse(sizes, reps=20)
    if dense_x:
        print("all-synapse direction (dense float x), us per product:")
        xcols = list(dense_x[0])
        print(" ".join(f"{c:>16}" for c in xcols))
        for r in dense_x:
            print(" ".join(f"{r[c]:>16.4g}" for c in xcols))
    extra = {} if args.only_big else interleaved()
    for k, v in extra.items():
        print(f"{k}: {v:.4g}")
    if args.big or args.only_big:
        extra.update(big_jitc("auto"))
        extra.update(big_jitc("jax"))
        for k, v in extra.items():
            if k.startswith("jitc_1e6"):
                print(f"{k}: {v:.4g}")
    try:
        import brainevent
        print(f"brainevent {brainevent.__version__}: compared (columns brainevent_*)")
    except ImportError:
        print("brainevent not installed: not compared")
    if args.json:
        print(json.dumps({"benchmark": "event_ops", "rows": rows, "all_synapse": dense_x, **extra}))


if __name__ == "__main__":
    main()
