"""Reservoir computing on Fashion-MNIST (paper section 5.2): test accuracy against reservoir size.

Each image is fed row by row (28 steps of 28 pixels, scaled to [0, 1]) into a leaky tanh reservoir
(``reservoir_model.Reservoir``); the final state is the input of a linear readout trained online, in one
pass, by recursive least squares (``brainsim.train.RLS``). Setup of the paper's ``run-mnist.sh``:
leak 0.6, spectral radius 1.3, input scale 0.3, input and recurrent connectivity 0.1 (0.01 from
20,000 neurons on), one epoch, RLS with initial P = 0.1 I (our ``alpha`` = 10), no bias.

The paper updates the readout after every sample; RLS with batches of B samples is exactly the
same least-squares solution (Woodbury), so the readout here is updated once per batch.

Usage::

    python paper_experiments/reservoir/run.py --quick --json     # under 3 minutes
    python paper_experiments/reservoir/run.py --full --json      # 2k .. 50k neurons
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

import brainsim  # noqa: E402
from brainsim import datasets, train  # noqa: E402
from reservoir_model import Reservoir, estimate_spectral_radius  # noqa: E402

PRESETS = {
    # sizes, train images, test images; --full follows run-mnist.sh (0.01 recurrent from 20k on)
    "smoke": dict(sizes=[200, 400], n_train=600, n_test=200),
    "quick": dict(sizes=[500, 1000, 2000], n_train=3000, n_test=615),
    "full": dict(sizes=[2000, 4000, 8000, 10000, 20000, 30000, 40000, 50000], n_train=3000,
                 n_test=615),
}


def default_data() -> Path:
    env = os.environ.get("BRAINSIM_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data", Path("/work/shared/data")]:
        if (c / "fashion-mnist-head").is_dir():
            return c / "fashion-mnist-head"
    return REPO.parent / "shared" / "data" / "fashion-mnist-head"


def load_data(root, n_train: int, n_test: int):
    """(x_train, y_train, x_test, y_test, note); x of shape (N, 28, 28) in [0, 1].

    With both splits in ``root`` (the full Fashion-MNIST or MNIST IDX files) the test split is
    used; with the train file only (the 3,615-image head) images [0, n_train) train and the
    next ``n_test`` test.
    """
    tr = datasets.FashionMNIST(root, split="train", download=False)
    try:
        te = datasets.FashionMNIST(root, split="test", download=False)
    except FileNotFoundError:
        te = None
    if te is None:
        if n_train + n_test > len(tr):
            raise ValueError(f"--data {root} holds {len(tr)} training images and no test split; "
                             f"{n_train} train + {n_test} test do not fit.")
        xs, ys = tr.images, tr.labels
        x_tr, y_tr = xs[:n_train], ys[:n_train]
        x_te, y_te = xs[n_train:n_train + n_test], ys[n_train:n_train + n_test]
        note = f"train images [0, {n_train}), test images [{n_train}, {n_train + n_test}) of the train file"
    else:
        x_tr, y_tr = tr.images[:n_train], tr.labels[:n_train]
        x_te, y_te = te.images[:n_test], te.labels[:n_test]
        note = f"first {len(y_tr)} train and {len(y_te)} test images"
    f = lambda x: (np.asarray(x, np.float32) / 255.0)  # noqa: E731
    return f(x_tr), np.asarray(y_tr, np.int32), f(x_te), np.asarray(y_te, np.int32), note


def _batches(x, y, batch):
    """Zero-padded batches and masks; a zero image keeps the reservoir at 0 (a zero feature row),
    and a zero row with a zero target changes neither W nor P of RLS (forgetting 1)."""
    for s in range(0, len(x), batch):
        xb, yb = x[s:s + batch], y[s:s + batch]
        k = len(xb)
        if k < batch:
            xb = np.concatenate([xb, np.zeros((batch - k,) + xb.shape[1:], xb.dtype)])
            yb = np.concatenate([yb, np.zeros(batch - k, yb.dtype)])
        yield xb, yb, k


def run_size(n, data, args, rec_prob):
    x_tr, y_tr, x_te, y_te = data
    t0 = time.perf_counter()
    res = Reservoir(28, n, leak=args.leak, spectral_radius=args.spectral_radius,
                    in_scale=args.in_scale, in_prob=args.in_prob, rec_prob=rec_prob,
                    conn=args.conn, seed=args.seed)
    brainsim.init_states(res, batch_size=args.batch)
    rls = train.RLS(n, 10, alpha=args.alpha)

    def final_state(xb):                       # xb: (B, 28, 28) -> (B, n)
        res.reset_state(args.batch)
        rs = brainsim.for_loop(res, jnp.swapaxes(xb, 0, 1))
        return rs[-1]

    @brainsim.jit
    def train_step(xb, yb, k):
        r = final_state(xb)
        keep = (jnp.arange(args.batch) < k)[:, None]
        target = jax.nn.one_hot(yb, 10, dtype=jnp.float32)
        rls.update(jnp.where(keep, r, 0.0), jnp.where(keep, target, 0.0))

    @brainsim.jit
    def predict(xb):
        return jnp.argmax(rls(final_state(xb)), axis=-1)

    for xb, yb, k in _batches(x_tr, y_tr, args.batch):
        train_step(xb, yb, k)
    t_train = time.perf_counter() - t0

    def acc(x, y):
        pred = np.concatenate([np.asarray(predict(xb))[:k] for xb, _, k in _batches(x, y, args.batch)])
        return float(np.mean(pred == y))

    test_acc = acc(x_te, y_te)
    train_acc = acc(x_tr, y_tr) if args.train_acc else None
    radius = estimate_spectral_radius(res.w_rec.value, n) if n <= args.radius_max_n else None
    return dict(n=n, rec_prob=rec_prob, test_acc=test_acc, train_acc=train_acc,
                train_s=round(t_train, 2), total_s=round(time.perf_counter() - t0, 2),
                spectral_radius_measured=None if radius is None else round(radius, 3))


def rls_gib(n):
    """Memory of RLS at n inputs: P, its update and P X^T (float32)."""
    return 3 * 4 * n * n / 2 ** 30


def plot(results, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ns = [r["n"] for r in results]
    ax.plot(ns, [100 * r["test_acc"] for r in results], "o-", label="test")
    if all(r["train_acc"] is not None for r in results):
        ax.plot(ns, [100 * r["train_acc"] for r in results], "s--", label="train")
    ax.set_xscale("log")
    ax.set_xlabel("reservoir neurons")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    for name in PRESETS:
        g.add_argument(f"--{name}", dest="preset", action="store_const", const=name)
    p.set_defaults(preset="quick")
    p.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=None,
                   help="comma-separated reservoir sizes (overrides the preset)")
    p.add_argument("--n-train", type=int, default=None)
    p.add_argument("--n-test", type=int, default=None)
    p.add_argument("--data", default=None, help="folder with Fashion-MNIST (or MNIST) IDX files")
    p.add_argument("--conn", choices=("csr", "jit"), default="csr",
                   help="csr: stored sparse weights, compiled kernel; jit: regenerated per product")
    p.add_argument("--leak", type=float, default=0.6)
    p.add_argument("--spectral-radius", type=float, default=1.3)
    p.add_argument("--in-scale", type=float, default=0.3)
    p.add_argument("--in-prob", type=float, default=0.1)
    p.add_argument("--rec-prob", type=float, default=0.1)
    p.add_argument("--rec-prob-large", type=float, default=0.01,
                   help="recurrent connectivity from 20,000 neurons on (run-mnist.sh)")
    p.add_argument("--alpha", type=float, default=10.0, help="RLS regulariser: P0 = I / alpha")
    p.add_argument("--batch", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-acc", action="store_true", help="also measure training accuracy")
    p.add_argument("--radius-max-n", type=int, default=10000,
                   help="measure the spectral radius up to this size")
    p.add_argument("--max-rls-gib", type=float, default=8.0,
                   help="skip sizes whose RLS matrices need more memory than this")
    p.add_argument("--budget-s", type=float, default=None,
                   help="start no new size after this many seconds")
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    preset = dict(PRESETS[args.preset])
    sizes = args.sizes or preset["sizes"]
    n_train = args.n_train or preset["n_train"]
    n_test = args.n_test or preset["n_test"]
    root = Path(args.data) if args.data else default_data()
    x_tr, y_tr, x_te, y_te, note = load_data(root, n_train, n_test)
    log = sys.stderr if args.json else sys.stdout
    print(f"data: {root} ({note}); conn={args.conn}; {args.preset} sizes {sizes}", file=log)
    t_start = time.perf_counter()
    results, skipped, stopped = [], [], None
    for n in sizes:
        if args.budget_s is not None and time.perf_counter() - t_start > args.budget_s:
            stopped = f"time budget of {args.budget_s:.0f} s spent before n={n}"
            break
        if rls_gib(n) > args.max_rls_gib:
            skipped.append(dict(n=n, why=f"RLS needs {rls_gib(n):.1f} GiB > --max-rls-gib {args.max_rls_gib}"))
            continue
        rec_prob = args.rec_prob if n < 20000 else args.rec_prob_large
        r = run_size(n, (x_tr, y_tr, x_te, y_te), args, rec_prob)
        results.append(r)
        tr = "" if r["train_acc"] is None else f"  train {100 * r['train_acc']:.2f}%"
        print(f"n={n:6d} p_rec={rec_prob:<5} test {100 * r['test_acc']:.2f}%{tr}  "
              f"({r['total_s']:.1f} s, radius {r['spectral_radius_measured']})", file=log, flush=True)
    for s in skipped:
        print(f"skipped n={s['n']}: {s['why']}", file=log)
    if stopped:
        print(f"stopped: {stopped}", file=log)
    png = None
    if results:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        png = str(out / f"reservoir_{args.preset}.png")
        plot(results, png, f"reservoir + RLS readout, Fashion-MNIST head ({args.conn})")
    summary = dict(
        experiment="reservoir", preset=args.preset, conn=args.conn,
        test_acc=results[-1]["test_acc"] if results else None,
        sizes=[r["n"] for r in results], accs=[r["test_acc"] for r in results],
        train_accs=[r["train_acc"] for r in results], seconds=[r["total_s"] for r in results],
        spectral_radius_measured=[r["spectral_radius_measured"] for r in results],
        rec_probs=[r["rec_prob"] for r in results], skipped=skipped, stopped=stopped,
        n_train=len(y_tr), n_test=len(y_te), data=note, png=png,
        machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}",
        total_s=round(time.perf_counter() - t_start, 1))
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
