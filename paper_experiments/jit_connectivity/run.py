"""JIT connectivity (paper section 5.2): event matvecs with JITC, CSR and dense, and COBA to 4M.

Part (a): 100 event-driven matvecs ``BinaryArray(s) @ M`` of an N x N matrix with p = 80 / N
(about 80 synapses per row, the COBA network's in-degree) and 1 % active spikes, with ``M`` as
just-in-time connectivity (``JITCScalarR``: a seed and a weight), a stored ``CSR`` and a dense
float32 array. Each (format, N) runs in its own subprocess, which reports the wall time of the
100 matvecs (one compiled ``lax.scan``, timed on its second call) and its peak RSS
(``resource.getrusage``) minus the RSS it had before building the matrix (JAX loaded, spikes
drawn). CSR and dense skip the sizes whose estimated memory passes ``--max-mem-gb``.

Part (b), the paper's scaling experiment: COBA-LIF with JIT connectivity (``coba_jitc.py``:
p = 80 / N, unscaled weights) for 100 ms at N from 40k to 4M (``--full``), each N in a subprocess
reporting its wall time (a warm-up chunk first, which compiles), rate and peak RSS.

    python paper_experiments/jit_connectivity/run.py --quick --json   # (a) to 100k, (b) to 400k, 20 ms
    python paper_experiments/jit_connectivity/run.py --full --json    # (a) to 1M, (b) 40k..4M, 100 ms

JSON (last line): ``matvec``: {``n``, ``jitc_s``, ``csr_s``, ``dense_s``, ``jitc_mem_mb``,
``csr_mem_mb``, ``dense_mem_mb``, ``*_matrix_mb``} (lists over N, None where not run;
``*_matrix_mb`` is what the matrix itself stores); ``coba``: {``n``,
``time_s``, ``mem_mb``, ``rate_hz``, ``duration_ms``}.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

FORMATS = ("jitc", "csr", "dense")
K_IN = 80.
PRESETS = {
    "smoke": dict(mv_sizes=[1000], reps=10, coba_sizes=[4000], duration=10., chunk=5.),
    "quick": dict(mv_sizes=[10000, 100000], reps=100, coba_sizes=[40000, 100000, 400000],
                  duration=20., chunk=10.),
    "full": dict(mv_sizes=[1000, 4000, 10000, 20000, 40000, 100000, 400000, 1000000], reps=100,
                 coba_sizes=[40000, 100000, 400000, 1000000, 2000000, 4000000],
                 duration=100., chunk=20.),
}


def rss_mb() -> float:
    """Peak resident set size of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.


def est_gb(fmt: str, n: int) -> float:
    """Rough memory a matrix needs while built (CSR: random_conn's int64 temporaries)."""
    nse = K_IN * n
    if fmt == "jitc":
        return 0.
    if fmt == "csr":
        return nse * 40 / 1e9
    return (3 * 4. * n * n + nse * 40) / 1e9   # host array, device copy, temporaries


def build_matrix(fmt: str, n: int, seed: int):
    import numpy as np
    from brainsim import event
    p = min(1., K_IN / n)
    if fmt == "jitc":
        return event.JITCScalarR((0.5, p, seed), shape=(n, n))
    W = event.random_conn(n, n, prob=p, seed=seed, weight=0.5)
    if fmt == "csr":
        return W
    ptr = np.asarray(W.indptr)
    D = np.zeros((n, n), np.float32)
    D[np.repeat(np.arange(n), np.diff(ptr)), np.asarray(W.indices)] = 0.5
    del W
    import jax.numpy as jnp
    return jnp.asarray(D)


def _matvecs(M, S):
    """sum_k BinaryArray(S[k]) @ M in one scan (compiled once per format and shape)."""
    import jax.numpy as jnp
    from jax import lax
    from brainsim import event
    return lax.scan(lambda c, s: (c + event.BinaryArray(s) @ M, None),
                    jnp.zeros(S.shape[1], jnp.float32), S)[0]


def matvecs(M, S):
    import jax
    global _JIT
    if _JIT is None:
        _JIT = jax.jit(_matvecs)
    return _JIT(M, S)


_JIT = None


def matrix_mb(fmt: str, n: int, M) -> float:
    """Bytes the matrix itself holds: JITC a seed and a weight, CSR indices + data + indptr."""
    import numpy as np
    if fmt == "jitc":
        return 8e-6
    if fmt == "csr":
        return (np.asarray(M.indices).nbytes + np.asarray(M.indptr).nbytes
                + np.asarray(M.weight).nbytes) / 1e6
    return 4. * n * n / 1e6


def worker_matvec(fmt: str, n: int, reps: int, seed: int) -> dict:
    import jax
    S = jax.random.bernoulli(jax.random.PRNGKey(seed), 0.01, (reps, n))
    jax.block_until_ready(S)
    base = rss_mb()
    M = build_matrix(fmt, n, seed)
    t0 = time.perf_counter()
    jax.block_until_ready(matvecs(M, S))
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(matvecs(M, S))
    t = time.perf_counter() - t0
    return dict(fmt=fmt, n=n, reps=reps, time_s=t, compile_s=max(first - t, 0.),
                mem_mb=rss_mb() - base, peak_rss_mb=rss_mb(), matrix_mb=matrix_mb(fmt, n, M))


def worker_coba(n: int, duration: float, chunk: float, seed: int) -> dict:
    import brainunit as u
    import jax
    from brainsim.runner import Runner, SpikeMonitor
    from coba_jitc import build
    base = rss_mb()
    t0 = time.perf_counter()
    net = build(n, seed)
    jax.block_until_ready(net.neu.V.value)
    build_s = time.perf_counter() - t0
    runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
    t0 = time.perf_counter()
    runner.run(chunk * u.ms)
    first = time.perf_counter() - t0
    k = max(1, int(round(duration / chunk)))
    spikes, t0 = 0, time.perf_counter()
    for _ in range(k):
        spikes += len(runner.run(chunk * u.ms)["spikes"].i)
    t = time.perf_counter() - t0
    return dict(n=n, duration_ms=k * chunk, time_s=t, build_s=build_s, first_s=first,
                rate_hz=spikes / n / (k * chunk / 1e3), mem_mb=rss_mb() - base, peak_rss_mb=rss_mb())


def in_subprocess(args: list, timeout: float) -> dict:
    """Run this script's worker mode in a fresh process; its last JSON line, or an error."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE),
                                                       os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(Path(__file__).resolve())] + [str(a) for a in args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in reversed(out.stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    tail = (out.stderr or out.stdout).strip().splitlines()[-2:]
    return {"error": f"exit {out.returncode}: " + " | ".join(tail)}


def plot(mv, coba, path, preset, machine):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.6))
    for f in FORMATS:
        pts = [(n, t, m) for n, t, m in zip(mv["n"], mv[f"{f}_s"], mv[f"{f}_mem_mb"]) if t is not None]
        if pts:
            ns, ts, ms = zip(*pts)
            ax[0].plot(ns, ts, "o-", label=f)
            ax[1].plot(ns, [max(m, 1.) for m in ms], "o-", label=f)
    ax[0].set_title("100 event matvecs, 1 % active, p = 80/N", fontsize=8)
    ax[0].set_ylabel("wall s")
    ax[1].set_title("peak RSS growth while running them", fontsize=8)
    ax[1].set_ylabel("MB")
    pts = [(n, t, m) for n, t, m in zip(coba["n"], coba["time_s"], coba["mem_mb"]) if t is not None]
    if pts:
        ns, ts, ms = zip(*pts)
        ax[2].plot(ns, ts, "o-", label="wall s")
        ax2 = ax[2].twinx()
        ax2.plot(ns, ms, "s--", color="C3", label="peak RSS MB")
        ax2.set_ylabel("peak RSS growth, MB", color="C3")
        ax2.set_xscale("log")
    ax[2].set_title(f"COBA with JITC, {coba['duration_ms']:g} ms", fontsize=8)
    ax[2].set_ylabel("wall s")
    for a in ax:
        a.set_xscale("log")
        a.set_xlabel("N")
        a.grid(alpha=0.3, which="both")
    ax[0].set_yscale("log")
    ax[1].set_yscale("log")
    ax[2].set_yscale("log")
    ax[0].legend(fontsize=7)
    fig.suptitle(f"JIT connectivity, {preset}; {machine}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick")
    g.add_argument("--full", dest="preset", action="store_const", const="full")
    g.add_argument("--smoke", dest="preset", action="store_const", const="smoke", help=argparse.SUPPRESS)
    p.set_defaults(preset="quick")
    p.add_argument("--max-mem-gb", type=float, default=5.,
                   help="skip CSR/dense sizes whose estimated memory passes this")
    p.add_argument("--timeout", type=float, default=1800., help="per subprocess, s")
    p.add_argument("--budget-s", type=float, default=None,
                   help="start no new COBA size after this many seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    p.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.worker:
        w = args.worker
        r = (worker_matvec(w[1], int(w[2]), int(w[3]), args.seed) if w[0] == "matvec" else
             worker_coba(int(w[1]), float(w[2]), float(w[3]), args.seed))
        print(json.dumps(r))
        return r
    from _common import machine
    pre = PRESETS[args.preset]
    log = sys.stderr if args.json else sys.stdout
    mach = machine()
    print(f"jit_connectivity {args.preset}: {mach}", file=log)
    t_start = time.perf_counter()
    mv = {"n": pre["mv_sizes"], "reps": pre["reps"]}
    for f in FORMATS:
        mv[f"{f}_s"], mv[f"{f}_mem_mb"], mv[f"{f}_matrix_mb"] = [], [], []
    for n in pre["mv_sizes"]:
        for f in FORMATS:
            if est_gb(f, n) > args.max_mem_gb:
                r = {"error": f"not run: needs about {est_gb(f, n):.1f} GB > --max-mem-gb {args.max_mem_gb:g}"}
            else:
                r = in_subprocess(["--worker", "matvec", f, n, pre["reps"], "--seed", args.seed], args.timeout)
            ok = "error" not in r
            mv[f"{f}_s"].append(round(r["time_s"], 4) if ok else None)
            mv[f"{f}_mem_mb"].append(round(r["mem_mb"], 1) if ok else None)
            mv[f"{f}_matrix_mb"].append(round(r["matrix_mb"], 3) if ok else None)
            msg = (f"{r['time_s']:9.3f} s  compile {r['compile_s']:6.2f} s  "
                   f"peak RSS +{r['mem_mb']:8.1f} MB  matrix {r['matrix_mb']:9.3f} MB"
                   if ok else r["error"])
            print(f"matvec n={n:8d} {f:6s} {msg}", file=log, flush=True)
    coba = {"n": [], "time_s": [], "mem_mb": [], "rate_hz": [], "duration_ms": pre["duration"]}
    for n in pre["coba_sizes"]:
        if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
            print(f"coba n={n:8d} not run: --budget-s {args.budget_s:g} spent", file=log)
            break
        r = in_subprocess(["--worker", "coba", n, pre["duration"], pre["chunk"], "--seed", args.seed],
                          args.timeout)
        ok = "error" not in r
        coba["n"].append(n)
        coba["time_s"].append(round(r["time_s"], 3) if ok else None)
        coba["mem_mb"].append(round(r["mem_mb"], 1) if ok else None)
        coba["rate_hz"].append(round(r["rate_hz"], 2) if ok else None)
        msg = (f"{r['time_s']:9.2f} s for {r['duration_ms']:g} ms  first {r['first_s']:6.2f} s  "
               f"rate {r['rate_hz']:5.1f} Hz  mem +{r['mem_mb']:8.1f} MB" if ok else r["error"])
        print(f"coba   n={n:8d} {msg}", file=log, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"jit_connectivity_{args.preset}.png"
    plot(mv, coba, png, args.preset, mach)
    print(f"figure: {png}  (total {time.perf_counter() - t_start:.0f} s)", file=log)
    summary = {"matvec": mv, "coba": coba}
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
