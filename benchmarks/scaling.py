"""Scaling of the COBA network (examples/ei_coba_lif.py) over devices and processes.

    PYTHONPATH=. python benchmarks/scaling.py [--scale 1] [--duration 1000] [--json]

The same network (seed 0) on 1, 2 and 4 CPU host devices in one process, and on 2 processes
x 2 devices joined by jax.distributed (gloo, loopback). Each configuration runs in its own
process (the device count is fixed when JAX starts): one run to compile, then the timed run of
the same length. Reported: seconds of wall time per simulated second (the second run), the
peak RSS of the process (the largest over processes), and whether the raster is bit-identical
to the one-device raster. On one 2-core machine more devices cannot be faster: what this
measures there is the overhead of sharding.
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


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--json", action="store_true")
    _worker_args(p)
    a = p.parse_args(argv)
    if a.worker:
        devices_worker(a)
        return
    rows = devices_rows(a)
    print_devices_table(rows)
    if a.json:
        print(json.dumps({"devices": rows}))


if __name__ == "__main__":
    main()
