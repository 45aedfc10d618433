"""EI networks (paper section 5.1): COBA-LIF and COBAHH speed against network size.

brainsim (``examples/ei_coba_lif.py``, ``examples/ei_coba_hh.py``), Brian2 (cython; and
cpp_standalone with ``--full``) and NEST (``iaf_cond_exp``, ``hh_cond_exp_traub``) run the same
network: 80 % E / 20 % I, p = 0.02, weights 6/s and 67/s nS at scale s, dt = 0.1 ms, one step of
delay. The other simulators run from ``BRIAN2_PYTHON`` / ``NEST_PYTHON`` (skipped when unset),
each timed inside its own process. Every simulator first runs one warm-up chunk (brainsim and
Brian2 compile there), then the timed duration; the figures are wall seconds per simulated
second of that timed run (the paper's totals divided by its 5 s / 10 s).

    python paper_experiments/ei_networks/run.py --quick --json   # 4k, 8k; short runs
    python paper_experiments/ei_networks/run.py --full --json    # 4k .. 40k; 5 s LIF, 10 s HH

JSON: ``{"coba": [{"n", "brainsim_s", "brian2_s", "nest_s"}, ...], "cobahh": [...]}`` in seconds
per simulated second (None where a simulator was skipped or failed).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import (brainsim_ei, fmt, machine, note, ok, python_for,  # noqa: E402
                     run_sim, skip_message)

PRESETS = {
    "quick": dict(sizes=[4000, 8000], lif_ms=500., hh_ms=200., standalone=False),
    "full": dict(sizes=[4000, 8000, 16000, 40000], lif_ms=5000., hh_ms=10000., standalone=True),
}
# The paper's published CPU figures (brainpy-iclr24-reproducibility, 5.1_EI_balanced_network,
# speed_results_lif/*.json over 5 s and speed_result_HH/*.json over 10 s), in s per simulated s.
PAPER = {
    "coba": {"brainpy": {4000: 0.722, 8000: 0.758, 16000: 0.685, 40000: 0.759},
             "brian2": {4000: 5.08, 8000: 5.26, 16000: 5.67, 40000: 6.91},
             "nest": {4000: 1.58, 8000: 3.38, 16000: 7.44, 40000: 23.4}},
    "cobahh": {"brainpy": {4000: 0.610, 8000: 1.04, 16000: 1.73, 40000: 3.74},
               "brian2": {4000: 6.71, 8000: 8.18, 16000: 15.8, 40000: 40.5},
               "nest": {4000: 12.7, 8000: 22.5, 16000: 46.6, 40000: 123.4}},
}
SIMS = ("brainsim", "brian2", "brian2_standalone", "nest")


def run_point(model, n, dur, args, dead):
    """All simulators at one (model, n); ``dead`` holds simulators that timed out before."""
    scale = n / 4000
    chunk = min(args.chunk_ms, dur)
    row = {"n": n, "duration_ms": dur}
    row["brainsim"] = brainsim_ei(model, scale, dur, chunk, args.seed)
    jobs = [("brian2", "brian2", [model, scale, dur, chunk, "cython", args.seed, "default"]),
            ("nest", "nest", [model, scale, dur, chunk, args.seed])]
    if args.standalone:
        jobs.insert(1, ("brian2_standalone", "brian2",
                        [model, scale, dur, chunk, "cpp_standalone", args.seed]))
    for key, sim, a in jobs:
        if key in dead:
            row[key] = {"error": f"not run: timed out at a smaller size ({dead[key]})"}
        else:
            row[key] = run_sim(sim, a, timeout=args.sim_timeout)
            if "timeout" in row[key].get("error", ""):
                dead[key] = n
    return row


def summary_rows(rows):
    val = lambda r: r["s_per_sim_s"] if ok(r) else None  # noqa: E731
    return [{"n": r["n"], "brainsim_s": val(r["brainsim"]), "brian2_s": val(r["brian2"]),
             "nest_s": val(r["nest"])} for r in rows]


def print_row(model, r, log):
    parts = []
    for k in SIMS:
        if k not in r:
            continue
        x = r[k]
        if ok(x):
            cpu = f", cpu {x['cpu_s'] / (r['duration_ms'] / 1e3):.3f}" if "cpu_s" in x else ""
            parts.append(f"{k} {x['s_per_sim_s']:.3f}{cpu} ({x['rate_hz']:.1f} Hz)")
        else:
            parts.append(note(x) if "skipped" in x else f"{k}: {note(x)}")
    print(f"{model:6s} n={r['n']:6d} {r['duration_ms']:g} ms | " + " | ".join(parts), file=log,
          flush=True)


def parse_log(paths):
    """Rows printed by earlier runs (``print_row`` lines in their logs), as ``results``: to redraw
    the figure of a run that was stopped before it wrote one."""
    import re
    results = {"coba": [], "cobahh": []}
    head = re.compile(r"^(coba|cobahh)\s+n=\s*(\d+) ([\d.]+) ms \| (.*)$")
    cell = re.compile(r"^(\w+) ([\d.]+)(?:, cpu ([\d.]+))? \(([\d.]+) Hz\)$")
    for path in paths:
        for line in Path(path).read_text().splitlines():
            m = head.match(line.strip())
            if not m:
                continue
            dur = float(m.group(3))
            row = {"n": int(m.group(2)), "duration_ms": dur}
            for part in m.group(4).split(" | "):
                c = cell.match(part.strip())
                if c:
                    row[c.group(1)] = dict(s_per_sim_s=float(c.group(2)), rate_hz=float(c.group(4)))
                    if c.group(3):
                        row[c.group(1)]["cpu_s"] = float(c.group(3)) * dur / 1e3
            for k in SIMS:
                row.setdefault(k, {"error": "not in the log"})
            results[m.group(1)].append(row)
    return results


def plot(results, path, preset, where=None):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    styles = {"brainsim": "o-", "brian2": "s-", "brian2_standalone": "^-", "nest": "d-"}
    colors = {"brainsim": "C0", "brian2": "C1", "brian2_standalone": "C2", "nest": "C3"}
    for ax, model in zip(axes, ("coba", "cobahh")):
        for k in SIMS:
            pts = [(r["n"], r[k]["s_per_sim_s"]) for r in results.get(model, []) if k in r and ok(r[k])]
            if pts:
                ax.plot(*zip(*pts), styles[k], color=colors[k], label=f"{k} (here)")
            cpu = [(r["n"], r[k]["cpu_s"] / (r["duration_ms"] / 1e3))
                   for r in results.get(model, []) if k in r and ok(r[k]) and "cpu_s" in r[k]]
            if cpu:
                ax.plot(*zip(*cpu), styles[k][0] + ":", color=colors[k], mfc="none",
                        label=f"{k} CPU time (here)")
        for k, c in zip(("brainpy", "brian2", "nest"), ("C0", "C1", "C3")):
            pts = sorted(PAPER[model][k].items())
            ax.plot(*zip(*pts), "--", color=c, alpha=0.5, lw=1, label=f"{k} (paper)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("neurons N")
        ax.set_ylabel("wall s per simulated s")
        ax.set_title({"coba": "COBA-LIF", "cobahh": "COBAHH"}[model], fontsize=10)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=6)
    fig.suptitle(f"EI networks, {preset} ({where or machine()})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick")
    g.add_argument("--full", dest="preset", action="store_const", const="full")
    p.set_defaults(preset="quick")
    ints = lambda s: [int(v) for v in s.split(",")]  # noqa: E731
    p.add_argument("--sizes", type=ints, default=None, help="comma-separated N (overrides)")
    p.add_argument("--models", default="coba,cobahh")
    p.add_argument("--lif-ms", type=float, default=None, help="simulated ms for COBA-LIF")
    p.add_argument("--hh-ms", type=float, default=None, help="simulated ms for COBAHH")
    p.add_argument("--chunk-ms", type=float, default=500., help="warm-up and call length")
    p.add_argument("--standalone", action=argparse.BooleanOptionalAction, default=None,
                   help="also Brian2 cpp_standalone (on with --full)")
    p.add_argument("--sim-timeout", type=float, default=3600.,
                   help="seconds per external simulator run; one that times out is not run "
                        "at larger sizes")
    p.add_argument("--budget-s", type=float, default=None,
                   help="start no new (model, N) after this many seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    p.add_argument("--replot", nargs="+", default=None, metavar="LOG",
                   help="run nothing: draw the figure and the JSON from the rows in these logs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    pre = PRESETS[args.preset]
    sizes = args.sizes or pre["sizes"]
    args.standalone = pre["standalone"] if args.standalone is None else args.standalone
    dur = {"coba": args.lif_ms or pre["lif_ms"], "cobahh": args.hh_ms or pre["hh_ms"]}
    log = sys.stderr if args.json else sys.stdout
    print(f"ei_networks {args.preset}: N {sizes}, {dur['coba']:g} ms LIF / {dur['cobahh']:g} ms HH; "
          f"{machine()}", file=log)
    for sim in ("brian2", "nest"):
        if python_for(sim) is None:
            print(skip_message(sim), file=log)
    t_start = time.perf_counter()
    results, stopped, dead = {}, None, {}
    if args.replot:
        results = parse_log(args.replot)
    for model in ([] if args.replot else args.models.split(",")):
        results[model] = []
        for n in sizes:
            if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
                stopped = f"time budget of {args.budget_s:.0f} s spent before {model} n={n}"
                break
            r = run_point(model, n, dur[model], args, dead)
            results[model].append(r)
            print_row(model, r, log)
    if stopped:
        print(f"stopped: {stopped}", file=log)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"ei_networks_{args.preset}.png"
    plot(results, png, args.preset,
         where=f"replotted from {len(args.replot)} log(s)" if args.replot else None)
    print(f"figure: {png}", file=log)
    summary = {m: summary_rows(results.get(m, [])) for m in ("coba", "cobahh")}
    if args.json:
        print(json.dumps(dict(results=results, stopped=stopped,
                              total_s=round(time.perf_counter() - t_start, 1)), default=str),
              file=log)
        print(json.dumps(summary))
    return summary, results


if __name__ == "__main__":
    main()
