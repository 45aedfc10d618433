"""Operators (paper section 5.1): the COBA network with its spike propagation written four ways.

The same COBA-LIF network (``examples/ei_coba_lif.py``, same synapses) propagates its spikes by

* ``event_csr``: brainsim's event-driven CSR product (``BinaryArray(s) @ CSR``, the example's form);
* ``dense``: the float spike vector times a dense (n_pre, n_post) matrix;
* ``jax_sparse``: the float spike vector times a ``jax.experimental.sparse.BCOO`` matrix;
* ``torch_sparse``: the network in PyTorch with ``torch.sparse_csr_tensor`` products
  (``TORCH_PYTHON``; skipped when unset), connectivity drawn there with the same p.

Each runs one warm-up chunk, then the timed duration; figures are wall seconds per simulated second.

    python paper_experiments/operators/run.py --quick --json    # 4k, short runs
    python paper_experiments/operators/run.py --full --json     # 4k and 40k

JSON: ``event_csr_s``, ``dense_s``, ``jax_sparse_s``, ``torch_sparse_s`` at 4k (None if not run).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from _common import brainsim_ei, machine, note, ok, python_for, run_sim, skip_message  # noqa: E402

PRESETS = {
    "quick": dict(sizes=[4000], durations=[100.]),
    "full": dict(sizes=[4000, 40000], durations=[1000., 100.]),
}
WAYS = ("event_csr", "dense", "jax_sparse", "torch_sparse")


def dense_gib(n: int) -> float:
    """Memory of the two dense float32 matrices (0.8 n x n and 0.2 n x n)."""
    return 4. * n * n / 2 ** 30


def run_size(n, dur, args):
    scale, chunk = n / 4000, min(args.chunk_ms, dur)
    row = {"n": n, "duration_ms": dur}
    for way in WAYS[:3]:
        if way not in args.ways:
            continue
        if way == "dense" and dense_gib(n) > args.max_dense_gib:
            row[way] = {"error": f"not run: the dense matrices need {dense_gib(n):.1f} GiB "
                                 f"> --max-dense-gib {args.max_dense_gib:g}"}
            continue
        prop = {"event_csr": "event"}.get(way, way)
        try:
            row[way] = brainsim_ei("coba", scale, dur, chunk, args.seed, prop=prop)
        except Exception as e:  # noqa: BLE001 - e.g. out of memory: report, go on
            row[way] = {"error": f"{type(e).__name__}: {str(e)[:200]}"}
    if "torch_sparse" in args.ways:
        row["torch_sparse"] = run_sim("torch", [scale, dur, chunk, args.seed, args.torch_threads],
                                      timeout=args.sim_timeout)
    return row


def plot(rows, path, preset):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    width = 0.8 / len(WAYS)
    for k, way in enumerate(WAYS):
        xs, ys = [], []
        for i, r in enumerate(rows):
            if way in r and ok(r[way]):
                xs.append(i + (k - 1.5) * width)
                ys.append(r[way]["s_per_sim_s"])
        ax.bar(xs, ys, width, label=way)
    ax.set_xticks(range(len(rows)), [f"N = {r['n']}" for r in rows])
    ax.set_yscale("log")
    ax.set_ylabel("wall s per simulated s")
    ax.set_title(f"COBA spike propagation, {preset}\n{machine()}", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y", which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick")
    g.add_argument("--full", dest="preset", action="store_const", const="full")
    p.set_defaults(preset="quick")
    p.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=None)
    p.add_argument("--durations", type=lambda s: [float(v) for v in s.split(",")], default=None,
                   help="simulated ms per size (comma-separated, one per size)")
    p.add_argument("--ways", type=lambda s: s.split(","), default=list(WAYS))
    p.add_argument("--chunk-ms", type=float, default=100., help="warm-up and call length")
    p.add_argument("--max-dense-gib", type=float, default=4.,
                   help="skip the dense product where its matrices need more memory")
    p.add_argument("--torch-threads", type=int, default=0, help="0: PyTorch's default")
    p.add_argument("--sim-timeout", type=float, default=3600.)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    pre = PRESETS[args.preset]
    sizes = args.sizes or pre["sizes"]
    durs = args.durations or (pre["durations"] if args.sizes is None else [pre["durations"][0]] * len(sizes))
    if len(durs) != len(sizes):
        raise ValueError(f"--durations has {len(durs)} values for {len(sizes)} sizes; give one per size")
    bad = [w for w in args.ways if w not in WAYS]
    if bad:
        raise ValueError(f"--ways {bad}: expected some of {list(WAYS)}")
    log = sys.stderr if args.json else sys.stdout
    print(f"operators {args.preset}: N {sizes}, {durs} ms; {machine()}", file=log)
    if python_for("torch") is None:
        print(skip_message("torch"), file=log)
    t0 = time.perf_counter()
    rows = []
    for n, d in zip(sizes, durs):
        r = run_size(n, d, args)
        rows.append(r)
        for way in WAYS:
            if way in r:
                x = r[way]
                msg = (f"{x['s_per_sim_s']:10.3f} s/sim s  cpu {x['cpu_s'] / (d / 1e3):9.3f}  "
                       f"compile {x.get('compile_s', 0.):6.2f} s  rate {x['rate_hz']:5.1f} Hz"
                       if ok(x) else note(x))
                print(f"n={n:6d} {way:13s} {msg}", file=log, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = out / f"operators_{args.preset}.png"
    plot(rows, png, args.preset)
    print(f"figure: {png}", file=log)
    at4k = next((r for r in rows if r["n"] == 4000), rows[0])
    summary = {f"{w}_s": (at4k[w]["s_per_sim_s"] if w in at4k and ok(at4k[w]) else None) for w in WAYS}
    if args.json:
        print(json.dumps(dict(rows=rows, total_s=round(time.perf_counter() - t0, 1))), file=log)
        print(json.dumps(summary))
    return summary, rows


if __name__ == "__main__":
    main()
