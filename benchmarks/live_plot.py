"""The cost of live plotting: the COBA example run with and without plot.LivePlot.

The COBA network of examples/ei_coba_lif.py (4,000 neurons at scale 1), spikes and two
voltage traces recorded, one second simulated, run once to compile and then timed
``--repeats`` times each way, alternating. The live run draws one frame every ``--refresh``
into a GIF (headless), the file written included. Two overheads are printed: against a
compiled run alone, and against what running the example costs (building the network and
its first, compiling run).

    python benchmarks/live_plot.py [--scale 1] [--refresh 10] [--repeats 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import brainunit as u
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))

import brainsim  # noqa: E402
from brainsim import plot  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor, StateMonitor  # noqa: E402
from ei_coba_lif import EINet  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--refresh", type=float, default=10., help="ms")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    t_start = time.perf_counter()
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(0)
    net = brainsim.init_states(EINet(a.scale))
    build_s = time.perf_counter() - t_start
    mons = {"spikes": SpikeMonitor(net.neu), "V": StateMonitor(net.neu.V, [0, 1])}
    out = tempfile.mkdtemp()
    live = plot.LivePlot(refresh=a.refresh * u.ms, path=os.path.join(out, "coba.gif"))
    plain = Runner(net, monitors=mons, progress=False)
    shown = Runner(net, monitors=mons, progress=False, live=live)
    duration = a.duration * u.ms
    first = {}
    for name, r in (("plain", plain), ("live", shown)):   # the first run compiles
        t0 = time.perf_counter()
        r.run(duration)
        first[name] = time.perf_counter() - t0
    times = {"plain": [], "live": []}
    for _ in range(a.repeats):
        for name, r in (("plain", plain), ("live", shown)):
            t0 = time.perf_counter()
            res = r.run(duration)
            times[name].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = med["live"] / med["plain"]
    n = int(4000 * a.scale)
    print(f"COBA {n} neurons, {a.duration:g} ms, refresh {a.refresh:g} ms "
          f"({live.frames} frames, GIF {os.path.getsize(live.path) / 1e3:.0f} kB); "
          f"{platform.machine()}, {os.cpu_count()} cores; median of {a.repeats}")
    print(f"{'run':<10}{'s':>10}")
    for k in ("plain", "live"):
        print(f"{k:<10}{med[k]:>10.3f}")
    # What a user of the example sees: build + first (compiling) run, with and without.
    whole = {k: build_s + first[k] for k in first}
    whole_ratio = whole["live"] / whole["plain"]
    print(f"live plotting costs {100 * (ratio - 1):+.1f} % of a compiled run, "
          f"{100 * (whole_ratio - 1):+.1f} % of build + first run ({whole['plain']:.2f} s "
          f"-> {whole['live']:.2f} s); rate {res['spikes'].mean_rate().to_decimal(u.Hz):.1f} Hz")
    if a.json:
        print(json.dumps({"n_neurons": n, "duration_ms": a.duration, "refresh_ms": a.refresh,
                          "frames": live.frames, "plain_s": med["plain"], "live_s": med["live"],
                          "overhead": ratio - 1, "build_and_first_run_s": whole,
                          "overhead_build_and_first_run": whole_ratio - 1}))


if __name__ == "__main__":
    main()
