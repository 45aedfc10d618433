"""Scaling of the COBA network (``examples/ei_coba_lif.py``): with its size N, and over devices.

    PYTHONPATH=. python benchmarks/scaling.py [--part n|devices|all] [--json]
        [--scales 1 10 100 1000] [--conn csr80 jitc] [--duration 100] [--max-csr-scale 100]
        [--devices-scale 1] [--devices-duration 1000]

**N-sweep** (``--part n``): time per simulated second and peak memory against N (4,000 to
4,000,000 neurons) for stored connectivity (CSR) and just-in-time connectivity (JITC), both with
80 connections per neuron on average (p = 80 / N) and the unscaled weights (``--conn csr80`` /
``--conn jitc`` of the example), so both networks are the same model and only the storage
differs. Each size runs in its own subprocess, which reports its peak resident memory
(``ru_maxrss``), the time to build the network, the first run (with compilation) and a second
run of the same length (no compilation), from which the time per simulated second is taken. The
CSR network at 4M neurons holds 320M synapses (several GB to build): leave scale 1000 out for CSR
on small machines (``--max-csr-scale``).

**Devices** (``--part devices``): the same network (seed 0, p = 0.02) on 1, 2 and 4 CPU host
devices in one process, and on 2 processes x 2 devices joined by jax.distributed (gloo,
loopback). Each configuration runs in its own process (the device count is fixed when JAX
starts): one run to compile, then the timed run of the same length. Reported: seconds of wall
time per simulated second (the second run), the peak RSS of the process (the largest over
processes), and whether the raster is bit-identical to the one-device raster. On one 2-core
machine more devices cannot be faster: what this measures there is the overhead of sharding.
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))


def _worker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--devices", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--processes", type=int, default=1, help=argparse.SUPPRESS)


def devices_worker(a) -> None:
    """In a fresh process: build, run twice, print one JSON line (process 0 only)."""
    if a.process_id is not None:
        from brainsim import sharding
        sharding.initialize(a.coordinator, a.processes, a.process_id, timeout=300)
    import brainunit as u
    import ei_coba_lif
    from brainsim.runner import Runner, SpikeMonitor
    import brainsim
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(0)
    mesh = None
    if a.devices > 1:
        from brainsim import sharding
        mesh = sharding.make_mesh(a.devices)
    t0 = time.perf_counter()
    net = brainsim.init_states(ei_coba_lif.EINet(a.scale, 0, mesh))
    if mesh is not None:
        sharding.shard_model(net, mesh)
    build_s = time.perf_counter() - t0
    runner = Runner(net, monitors={"s": SpikeMonitor(net.neu)}, progress=False)
    t0 = time.perf_counter()
    first = runner.run(a.duration * u.ms)["s"]
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    runner.run(a.duration * u.ms)
    run_s = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if a.process_id in (None, 0):
        print(json.dumps({"devices": a.devices, "processes": a.processes,
                          "n_neurons": net.n_exc + net.n_inh, "build_s": build_s,
                          "first_run_s": first_s, "s_per_sim_s": run_s / (a.duration / 1000.),
                          "peak_rss_mb_proc0": rss_mb, "spike_count": int(first.count),
                          "raster_sha256": ei_coba_lif.raster_sha256(first)}), flush=True)


def _run_config(a, devices: int, processes: int) -> dict:
    base = [str(Path(__file__).resolve()), "--worker", "--scale", str(a.scale), "--duration",
            str(a.duration), "--devices", str(devices)]
    env = dict(os.environ)
    per = devices // processes
    env["XLA_FLAGS"] = (f"--xla_force_host_platform_device_count={per}" if per > 1 else "")
    wrap = ["/usr/bin/time", "-f", "MAXRSS_KB %M"] if Path("/usr/bin/time").exists() else []
    if processes == 1:
        cmd = wrap + [sys.executable] + base
    else:
        code = ("import sys; from brainsim.sharding import launch_local; "
                f"sys.exit(launch_local({base[0]!r}, {base[1:]!r}, {processes}, timeout=900, "
                f"devices_per_process={per}))")
        cmd = wrap + [sys.executable, "-c", code]
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200)
    wall = time.perf_counter() - t0
    if out.returncode:
        raise RuntimeError(f"devices={devices} processes={processes} failed:\n{out.stderr[-3000:]}")
    row = json.loads([ln for ln in out.stdout.splitlines() if ln.startswith("{")][-1])
    row["process_wall_s"] = wall
    rss = [ln for ln in out.stderr.splitlines() if ln.startswith("MAXRSS_KB")]
    if rss:   # GNU time's %M: the largest RSS of the process and its waited-for children
        row["peak_rss_mb"] = int(rss[-1].split()[1]) / 1024
    return row


def devices_rows(a) -> list[dict]:
    """The devices/processes part: 1, 2, 4 host devices, then 2 processes x 2 devices."""
    rows = [_run_config(a, d, 1) for d in (1, 2, 4)] + [_run_config(a, 4, 2)]
    ref = rows[0]["raster_sha256"]
    for r in rows:
        r["same_raster"] = r["raster_sha256"] == ref
        r["overhead_vs_1"] = r["s_per_sim_s"] / rows[0]["s_per_sim_s"]
    return rows


def print_devices_table(rows: list[dict]) -> None:
    print(f"{'devices':>8} {'procs':>6} {'N':>7} {'s / sim s':>10} {'x 1 dev':>8} "
          f"{'compile+run s':>14} {'peak RSS MB':>12} {'same raster':>12}")
    for r in rows:
        print(f"{r['devices']:>8} {r['processes']:>6} {r['n_neurons']:>7} "
              f"{r['s_per_sim_s']:>10.3f} {r['overhead_vs_1']:>8.2f} {r['first_run_s']:>14.2f} "
              f"{r.get('peak_rss_mb', r['peak_rss_mb_proc0']):>12.0f} {str(r['same_raster']):>12}")


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
net = brainsim.init_states(ei.EINet(scale, 0, conn=conn))
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("n", "devices", "all"), default="all")
    p.add_argument("--scales", type=float, nargs="+", default=[1, 10, 100, 1000])
    p.add_argument("--conn", nargs="+", default=["csr80", "jitc"], choices=["csr80", "jitc"])
    p.add_argument("--duration", type=float, default=100.0, help="ms per run of the N-sweep")
    p.add_argument("--max-csr-scale", type=float, default=100.0)
    p.add_argument("--devices-scale", type=float, default=1.0)
    p.add_argument("--devices-duration", type=float, default=1000., help="ms")
    p.add_argument("--scale", type=float, default=1.0, help=argparse.SUPPRESS)   # worker's
    p.add_argument("--json", action="store_true")
    _worker_args(p)
    a = p.parse_args(argv)
    if a.worker:
        devices_worker(a)
        return
    out = {"benchmark": "scaling"}
    if a.part in ("n", "all"):
        print(" ".join(f"{c:>10}" for c in _COLS))
        out["n_sweep"] = n_sweep(a.scales, a.conn, a.duration, a.max_csr_scale)
    if a.part in ("devices", "all"):
        a.scale, a.duration = a.devices_scale, a.devices_duration
        out["devices"] = devices_rows(a)
        print_devices_table(out["devices"])
    if a.json:
        print(json.dumps(out))
    # a size whose run failed, or a device count whose spikes differ from one device's (same
    # seed), fails the benchmark after its table and JSON: they are failures, not rows
    failed = [(r["n"], r["conn"]) for r in out.get("n_sweep", []) if "error" in r]
    differ = [(r["devices"], r["processes"]) for r in out.get("devices", []) if not r["same_raster"]]
    if failed:
        sys.exit(f"scaling: the runs of (N, conn) {failed} failed")
    if differ:
        sys.exit(f"scaling: the raster differs from one device's for (devices, processes) {differ}")


if __name__ == "__main__":
    main()
