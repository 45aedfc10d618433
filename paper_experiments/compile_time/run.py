"""Compile time of the COBA network against scale: brainsim against Brian2.

* brainsim: the first ``Runner.run`` of ``--chunk-ms`` minus the second one (same compiled loop).
* Brian2 cython: network construction + first run with an empty Cython cache, minus the same in a
  second process on the now-filled cache: the Cython/C compilation of every code object
  (Brian2's code generation in Python runs in both processes and is not in this difference).
* Brian2 cpp_standalone: ``device.build(compile=True, run=False)``: code generation and the
  C++ build of the whole project.

    python paper_experiments/compile_time/run.py --quick --json   # scales 1, 2
    python paper_experiments/compile_time/run.py --full --json    # scales 1, 2, 4, 10

JSON: ``scale`` (list), ``brainsim_compile_s`` (list), ``brian2_compile_s``
(``{"cython": [...], "cpp_standalone": [...]}``, None where skipped or failed).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import (brainsim_compile, machine, n_neurons, note, ok, python_for,  # noqa: E402
                     run_sim, skip_message)

PRESETS = {"quick": dict(scales=[1., 2.]), "full": dict(scales=[1., 2., 4., 10.])}


def brian2_cython_compile(scale, chunk, seed, timeout):
    cache = tempfile.mkdtemp(prefix="brian2_cache_")
    try:
        args = ["coba", scale, chunk, chunk, "cython", seed, cache]
        cold = run_sim("brian2", args, timeout)
        if not ok(cold):
            return cold
        warm = run_sim("brian2", args, timeout)
        if not ok(warm):
            return warm
        total = lambda r: r["build_s"] + r["first_s"]  # noqa: E731
        return dict(compile_s=max(total(cold) - total(warm), 0.), cold_s=total(cold),
                    warm_s=total(warm))
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def plot(rows, path, preset):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for k, style in (("brainsim", "o-"), ("brian2_cython", "s-"), ("brian2_cpp_standalone", "^-")):
        pts = [(r["n"], r[k]["compile_s"]) for r in rows if ok(r.get(k))]
        if pts:
            ax.plot(*zip(*pts), style, label=k)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("neurons N (scale x 4000)")
    ax.set_ylabel("compile time (s)")
    ax.set_title(f"COBA compile time, {preset}\n{machine()}", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick")
    g.add_argument("--full", dest="preset", action="store_const", const="full")
    p.set_defaults(preset="quick")
    p.add_argument("--scales", type=lambda s: [float(v) for v in s.split(",")], default=None)
    p.add_argument("--chunk-ms", type=float, default=100.,
                   help="length of the runs whose first and second calls are compared")
    p.add_argument("--devices", default="cython,cpp_standalone", help="Brian2 devices to time")
    p.add_argument("--sim-timeout", type=float, default=3600.)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    scales = args.scales or PRESETS[args.preset]["scales"]
    devices = [d for d in args.devices.split(",") if d]
    log = sys.stderr if args.json else sys.stdout
    print(f"compile_time {args.preset}: scales {scales}; {machine()}", file=log)
    if python_for("brian2") is None:
        print(skip_message("brian2"), file=log)
    t0 = time.perf_counter()
    rows = []
    for s in scales:
        r = {"scale": s, "n": n_neurons(s), "brainsim": brainsim_compile(s, args.chunk_ms, args.seed)}
        if "cython" in devices:
            r["brian2_cython"] = brian2_cython_compile(s, args.chunk_ms, args.seed, args.sim_timeout)
        if "cpp_standalone" in devices:
            r["brian2_cpp_standalone"] = run_sim(
                "brian2", ["coba", s, args.chunk_ms, args.chunk_ms, "cpp_standalone", args.seed],
                args.sim_timeout)
        rows.append(r)
        parts = [f"{k} {r[k]['compile_s']:.2f} s" if ok(r[k]) else f"{k}: {note(r[k])}"
                 for k in ("brainsim", "brian2_cython", "brian2_cpp_standalone") if k in r]
        print(f"scale {s:g} (n={r['n']}): " + " | ".join(parts), file=log, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"compile_time_{args.preset}.png"
    plot(rows, png, args.preset)
    print(f"figure: {png}", file=log)
    val = lambda r, k: r[k]["compile_s"] if ok(r.get(k)) else None  # noqa: E731
    summary = dict(scale=scales, brainsim_compile_s=[val(r, "brainsim") for r in rows],
                   brian2_compile_s={d: [val(r, f"brian2_{d}") for r in rows]
                                     for d in ("cython", "cpp_standalone")})
    if args.json:
        print(json.dumps(dict(rows=rows, total_s=round(time.perf_counter() - t0, 1))), file=log)
        print(json.dumps(summary))
    return summary, rows


if __name__ == "__main__":
    main()
