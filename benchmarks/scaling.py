"""Scaling of the COBA network (``examples/ei_coba_lif.py``) with its size N.

N-sweep: time per simulated second and peak memory against N (4,000 to 4,000,000 neurons) for
stored connectivity (CSR) and just-in-time connectivity (JITC), both with 80 connections per
neuron on average (p = 80 / N) and the unscaled weights (``--conn csr80`` / ``--conn jitc`` of
the example), so both networks are the same model and only the storage differs. Each size runs
in its own subprocess, which reports its peak resident memory (``ru_maxrss``), the time to
build the network, the first run (with compilation) and a second run of the same length (no
compilation), from which the time per simulated second is taken.

Run: ``PYTHONPATH=. python benchmarks/scaling.py [--scales 1 10 100 1000] [--conn csr80 jitc]
[--duration 100] [--json]``. The CSR network at 4M neurons holds 320M synapses (several GB to
build): leave scale 1000 out for CSR on small machines (``--max-csr-scale``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_CHILD = r"""
import importlib.util, json, resource, sys, time
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("ei_coba_lif", "examples/ei_coba_lif.py")
ei = importlib.util.module_from_spec(spec); spec.loader.exec_module(ei)
import brainunit as u, brainsim
from brainsim.runner import Runner, SpikeMonitor
scale, conn, duration = float(sys.argv[1]), sys.argv[2], float(sys.argv[3])
brainsim.environ.set(dt=0.1 * u.ms)
brainsim.random.seed(0)
t = time.perf_counter()
net = brainsim.init_states(ei.EINet(scale, 0, conn))
build = time.perf_counter() - t
runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
t = time.perf_counter(); first = runner.run(duration * u.ms)["spikes"]; t_first = time.perf_counter() - t
t = time.perf_counter(); second = runner.run(duration * u.ms)["spikes"]; t_second = time.perf_counter() - t
r = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"n": int(net.n_exc + net.n_inh), "conn": conn, "build_s": build,
                  "first_run_s": t_first, "run_s": t_second,
                  "s_per_sim_s": t_second / (duration / 1000.0),
                  "rate_hz": float(second.mean_rate().to_decimal(u.Hz)),
                  "peak_rss_MB": r.ru_maxrss / 1024, "cpu_s": r.ru_utime + r.ru_stime,
                  "process_s": time.perf_counter() - t0}))
"""


def run_size(scale: float, conn: str, duration_ms: float = 100.0, timeout_s: float = 3600.0) -> dict:
    """One network size in a fresh process: its timings and peak RSS (see the module docstring)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(["."] + sys.path))
    out = subprocess.run([sys.executable, "-c", _CHILD, str(scale), conn, str(duration_ms)],
                         capture_output=True, text=True, env=env, timeout=timeout_s)
    if out.returncode != 0:
        return {"n": int(4000 * scale), "conn": conn, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def n_sweep(scales, conns, duration_ms: float = 100.0, max_csr_scale: float = 100.0) -> list[dict]:
    """Every (scale, conn) pair, CSR only up to ``max_csr_scale`` (its memory grows with N x 80)."""
    rows = []
    for conn in conns:
        for s in scales:
            if conn.startswith("csr") and s > max_csr_scale:
                continue
            rows.append(run_size(s, conn, duration_ms))
            print(_fmt(rows[-1]), flush=True)
    return rows


_COLS = ["n", "conn", "build_s", "first_run_s", "run_s", "s_per_sim_s", "rate_hz", "peak_rss_MB",
         "cpu_s", "process_s"]


def _fmt(r: dict) -> str:
    if "error" in r:
        return f"{r['n']:>10} {r['conn']:>6} failed: {r['error']}"
    return " ".join(f"{r[c]:>10.4g}" if isinstance(r[c], float) else f"{r[c]:>10}" for c in _COLS)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100, 1000])
    ap.add_argument("--conn", nargs="+", default=["csr80", "jitc"], choices=["csr80", "jitc"])
    ap.add_argument("--duration", type=float, default=100.0, help="ms per run")
    ap.add_argument("--max-csr-scale", type=float, default=100.0)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    print(" ".join(f"{c:>10}" for c in _COLS))
    rows = n_sweep(a.scales, a.conn, a.duration, a.max_csr_scale)
    if a.json:
        print(json.dumps({"benchmark": "scaling", "n_sweep": rows}))


if __name__ == "__main__":
    main()
