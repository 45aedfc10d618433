"""The cost of live plotting: the COBA example run with and without plot.LivePlot.

The COBA network of examples/ei_coba_lif.py (4,000 neurons at scale 1), spikes and two
voltage traces recorded, one second simulated, run once to compile and then timed
``--repeats`` times each way, alternating. The live runs draw one frame every ``--refresh``
into a GIF (headless): in the render process (the default; timed until the run returns, and
until the GIF is written) and in the calling thread (``process=False``, the file written
when the run returns). Each is printed as an overhead against a compiled run alone.

``--example K`` also times the whole example script as a user runs it, K times each way
(interleaved; wall time of the process, from its start to its exit with the GIF written):
``examples/ei_coba_lif.py --json`` against ``... --json --live FILE.gif``.

    python benchmarks/live_plot.py [--scale 1] [--refresh 10] [--repeats 5] [--example 5] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
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
    p.add_argument("--example", type=int, default=0, metavar="K",
                   help="also time the example script K times each way (0: not)")
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
    here = plot.LivePlot(refresh=a.refresh * u.ms, path=os.path.join(out, "here.gif"),
                         process=False)
    runners = {"plain": Runner(net, monitors=mons, progress=False),
               "live": Runner(net, monitors=mons, progress=False, live=live),
               "live_in_process": Runner(net, monitors=mons, progress=False, live=here)}
    duration = a.duration * u.ms
    first = {}
    for name, r in runners.items():       # the first run compiles
        t0 = time.perf_counter()
        r.run(duration)
        live.wait()
        first[name] = time.perf_counter() - t0
    times = {k: [] for k in (*runners, "live_file_written")}
    cpu = {k: [] for k in runners}      # this process's CPU time (all its threads)
    for _ in range(a.repeats):
        for name, r in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            res = r.run(duration)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            if name == "live":
                # the run has returned; the render process finishes the GIF on another core
                live.wait()
                times["live_file_written"].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    over = {k: med[k] / med["plain"] - 1 for k in med if k != "plain"}
    cmed = {k: float(np.median(v)) for k, v in cpu.items()}
    cover = {k: cmed[k] / cmed["plain"] - 1 for k in cmed if k != "plain"}
    n = int(4000 * a.scale)
    print(f"COBA {n} neurons, {a.duration:g} ms, refresh {a.refresh:g} ms "
          f"({live.frames} frames, GIF {os.path.getsize(live.path) / 1e3:.0f} kB); "
          f"{platform.machine()}, {os.cpu_count()} cores; median of {a.repeats}")
    print(f"{'run':<40}{'wall s':>8}{'overhead':>10}{'cpu s':>8}{'overhead':>10}")
    labels = {"plain": "without live plotting",
              "live": "LivePlot (render process): run returns",
              "live_file_written": "LivePlot (render process): GIF written",
              "live_in_process": "LivePlot(process=False)"}
    for k in labels:
        row = f"{labels[k]:<40}{med[k]:>8.3f}" + ("" if k == "plain" else f"{100 * over[k]:>+9.1f}%")
        if k in cmed:
            row += (" " * 10 if k == "plain" else "") + f"{cmed[k]:>8.3f}"
            row += "" if k == "plain" else f"{100 * cover[k]:>+9.1f}%"
        print(row)
    # What a user of the example sees: build + first (compiling) run, with and without.
    whole = {k: build_s + first[k] for k in first}
    print(f"build + first run: {whole['plain']:.2f} s without, {whole['live']:.2f} s with "
          f"LivePlot (file written); rate {res['spikes'].mean_rate().to_decimal(u.Hz):.1f} Hz")
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples",
                          "ei_coba_lif.py")
    ex = {"plain": [], "live": []}
    for _ in range(a.example):
        for k, extra in (("plain", []), ("live", ["--live", os.path.join(out, "ex.gif")])):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, script, "--json", "--scale", str(a.scale),
                            "--duration", str(a.duration),
                            "--refresh", str(a.refresh), *extra], check=True,
                           stdout=subprocess.DEVNULL)
            ex[k].append(time.perf_counter() - t0)
    ex_med = {k: float(np.median(v)) for k, v in ex.items() if v}
    if ex_med:
        print(f"the example script (median of {a.example}): {ex_med['plain']:.2f} s without, "
              f"{ex_med['live']:.2f} s with --live (GIF written): "
              f"{100 * (ex_med['live'] / ex_med['plain'] - 1):+.1f}%")
    if a.json:
        print(json.dumps({"example_s": ex_med, **({"example_overhead": ex_med["live"] /
                                                   ex_med["plain"] - 1} if ex_med else {}),"n_neurons": n, "duration_ms": a.duration, "refresh_ms": a.refresh,
                          "frames": live.frames, "plain_s": med["plain"], "live_s": med["live"],
                          "live_file_written_s": med["live_file_written"],
                          "live_in_process_s": med["live_in_process"],
                          "overhead": over["live"],
                          "overhead_file_written": over["live_file_written"],
                          "overhead_in_process": over["live_in_process"],
                          "cpu_s": cmed, "cpu_overhead": cover["live"],
                          "build_and_first_run_s": whole,
                          "repeats": a.repeats}))


if __name__ == "__main__":
    main()
