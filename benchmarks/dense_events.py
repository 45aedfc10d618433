"""Spikes times a dense weight matrix: the event kernel against XLA's GEMM, forward and gradient.

The product of one training step's input layer: ``X`` of shape ``(R, m)`` (R = T x batch rows of
0/1 spikes at a given density) with ``W (m, n)``, and its weight gradient ``X^T G`` for ``G (R, n)``.
``event`` is ``brainsim.event.BinaryArray(X) @ W`` and ``jax.grad`` of it w.r.t. ``W`` (the
compiled ``brainsim_dense_events`` kernel on XLA:CPU); ``gemm`` is ``X @ W`` and ``X.T @ G`` as
XLA compiles them (what ``layers.Linear`` runs on float input). Medians of interleaved calls, one XLA thread
unless ``--threads`` says otherwise. ``--forms`` repeats the run in subprocesses with the kernel
capped at its AVX2 and portable forms (``BRAINSIM_DENSE_ISA``). ``--right N`` also times the
other side, ``W @ BinaryArray(x)`` for an ``N x N`` ``W`` at 1 % active (a vector and a batch of
16), which is the dense product of the event mask, against ``W @ x`` and against what it did
before Dec 4 2026: ``BinaryArray(x.T) @ W.T``, transposing ``W`` in every call.

Usage::

    PYTHONPATH=. python benchmarks/dense_events.py [--rows 3200 --m 784 --n 128] [--forms]
        [--right 4000] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))


def _threads(argv) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
    return 1


def run(rows: int, m: int, n: int, densities, reps: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import brainsim.event as ev
    from brainsim.event import _kernels_cpu

    rng = np.random.default_rng(0)
    W = jnp.asarray(rng.normal(size=(m, n)).astype(np.float32))
    G = jnp.asarray(rng.normal(size=(rows, n)).astype(np.float32))
    ev_fwd = jax.jit(lambda X, W: ev.BinaryArray(X) @ W)
    ev_grad = jax.jit(lambda X, W, G: jax.vjp(lambda W: ev.BinaryArray(X) @ W, W)[1](G)[0])
    mm_fwd = jax.jit(lambda X, W: X @ W)
    mm_grad = jax.jit(lambda X, W, G: jax.vjp(lambda W: X @ W, W)[1](G)[0])
    out = []
    for p in densities:
        X = jnp.asarray((rng.random((rows, m)) < p).astype(np.float32))
        fns = {"event_fwd": (ev_fwd, (X, W)), "gemm_fwd": (mm_fwd, (X, W)),
               "event_grad": (ev_grad, (X, W, G)), "gemm_grad": (mm_grad, (X, W, G))}
        pairs = [(ev_fwd(X, W), mm_fwd(X, W)), (ev_grad(X, W, G), mm_grad(X, W, G))]
        err = max(float(jnp.max(jnp.abs(e - g))) for e, g in pairs)
        scale = max(float(jnp.max(jnp.abs(g))) for _, g in pairs)
        times = {k: [] for k in fns}
        for f, a in fns.values():
            f(*a).block_until_ready()
        for _ in range(reps):           # interleaved, so drifts of a shared machine hit all alike
            for k, (f, a) in fns.items():
                t0 = time.perf_counter()
                f(*a).block_until_ready()
                times[k].append(time.perf_counter() - t0)
        if err > 1e-4 * max(scale, 1.):     # float32 sums in another order: ~1e-6 of the scale
            raise SystemExit(f"dense_events: the event product differs from the GEMM by {err:.2e} "
                             f"at density {p}")
        row = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        row.update(density=p, max_abs_diff=err)
        out.append(row)
    return {"form": _kernels_cpu.dense_events_form(), "rows": rows, "m": m, "n": n, "cases": out}


def run_right(N: int, reps: int) -> list[dict]:
    """``W @ BinaryArray(x)`` against ``W @ x`` and the per-call transpose it replaced; ms."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import brainsim.event as ev

    rng = np.random.default_rng(1)
    W = jnp.asarray(rng.normal(size=(N, N)).astype(np.float32))
    fns = {"W @ BinaryArray(x)": jax.jit(lambda W, x: W @ ev.BinaryArray(x)),
           "W @ x (dense)": jax.jit(lambda W, x: W @ x.astype(W.dtype)),
           "BinaryArray(x.T) @ W.T (before)": jax.jit(lambda W, x: (ev.BinaryArray(x.T) @ W.T).T)}
    out = []
    for batch in (None, 16):
        x = jnp.asarray(rng.random((N,) if batch is None else (N, batch)) < 0.01)
        ref = np.asarray(W, np.float64) @ np.asarray(x, np.float64)
        times = {k: [] for k in fns}
        for k, f in fns.items():
            err = float(np.max(np.abs(np.asarray(f(W, x)) - ref)))
            if err > 1e-4 * max(float(np.max(np.abs(ref))), 1.):
                raise SystemExit(f"dense_events: {k} differs from the float64 product by {err:.2e}")
        for _ in range(reps):
            for k, f in fns.items():
                t0 = time.perf_counter()
                f(W, x).block_until_ready()
                times[k].append(time.perf_counter() - t0)
        out.append({"n": N, "batch": batch or 1,
                    **{k: statistics.median(v) * 1e3 for k, v in times.items()}})
    return out


def _table(res, log):
    print(f"form {res['form']}: X ({res['rows']}, {res['m']}) spikes, W ({res['m']}, {res['n']}); ms",
          file=log)
    print(f"{'density':>7s} {'event fwd':>9s} {'gemm fwd':>8s} {'ratio':>6s} {'event grad':>10s} "
          f"{'gemm grad':>9s} {'ratio':>6s} {'max |diff|':>10s}", file=log)
    for c in res["cases"]:
        print(f"{c['density']:7.2f} {c['event_fwd']:9.3f} {c['gemm_fwd']:8.3f} "
              f"{c['gemm_fwd'] / c['event_fwd']:5.2f}x {c['event_grad']:10.3f} {c['gemm_grad']:9.3f} "
              f"{c['gemm_grad'] / c['event_grad']:5.2f}x {c['max_abs_diff']:10.2e}", file=log)


def main(argv=None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=3200, help="T x batch (default 25 x 128)")
    p.add_argument("--m", type=int, default=784)
    p.add_argument("--n", type=int, default=128)
    p.add_argument("--densities", default="0.02,0.1,0.3,0.5")
    p.add_argument("--reps", type=int, default=41)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--forms", action="store_true",
                   help="also run the AVX2 and portable forms (subprocesses)")
    p.add_argument("--right", type=int, default=0, metavar="N",
                   help="also time W @ BinaryArray(x) for an N x N W (0: not)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    log = sys.stderr if a.json else sys.stdout
    dens = [float(x) for x in a.densities.split(",") if x.strip()]
    results = [run(a.rows, a.m, a.n, dens, a.reps)]
    if a.forms:
        for form in ("avx2", "portable"):
            env = dict(os.environ, BRAINSIM_DENSE_ISA=form)
            cmd = [sys.executable, __file__, "--json", "--rows", str(a.rows), "--m", str(a.m),
                   "--n", str(a.n), "--densities", a.densities, "--reps", str(a.reps),
                   "--threads", str(a.threads)]
            r = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if r.returncode == 0:
                results.append(json.loads(r.stdout.strip().splitlines()[-1])["results"][0])
            else:   # a form that fails (its own check, or a crash) fails the benchmark
                sys.exit(f"form {form} failed: {r.stderr.strip()[-300:]}")
    for r in results:
        _table(r, log)
    summary = {"benchmark": "dense_events", "threads": a.threads, "results": results,
               "machine": f"{platform.machine()} {os.cpu_count()} cpu"}
    if a.right:
        summary["right"] = run_right(a.right, a.reps)
        print(f"W @ spikes, 1 % active, ms: " + "; ".join(
            f"batch {r['batch']}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()
                                                if k not in ("n", "batch"))
            for r in summary["right"]), file=log)
    if a.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    if _threads(sys.argv[1:]) == 1:
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
        import brainsim
        brainsim.environ.set_cpu_threads(1)
    main()
