"""Fashion-MNIST training: brainsim vs snnTorch, seconds per epoch and test accuracy.

brainsim runs in this process (examples/train_fashion_mnist.py); snnTorch's equivalent
(benchmarks/train_fmnist_snntorch.py: snn.Synaptic, alpha 0.9, beta 0.85, learnable, atan
surrogate, same latency code, loss, batch, T, epochs and split) runs afterwards in a
subprocess of a Python that has torch and snntorch (``--torch-python``), so the two never
share the CPU. Epoch times cover the training pass only; brainsim's first epoch (which
compiles) is left out of its median.

Usage::

    python benchmarks/train_fmnist.py --data ../shared/data/fashion-mnist-head --epochs 30 \
        --torch-python /work/venv-torch/bin/python --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples"))

import train_fashion_mnist as example  # noqa: E402


def run_snntorch(args: argparse.Namespace) -> dict | None:
    py = args.torch_python or sys.executable
    probe = subprocess.run([py, "-c", "import torch, snntorch"], capture_output=True)
    if probe.returncode != 0:
        print(f"snnTorch skipped: `{py}` cannot import torch and snntorch", file=sys.stderr)
        return None
    cmd = [py, str(HERE / "train_fmnist_snntorch.py"), "--data", args.data,
           "--epochs", str(args.epochs), "--batch", str(args.batch), "--steps", str(args.steps),
           "--train-range", args.train_range, "--test-range", args.test_range,
           "--seed", str(args.seed), "--threads", str(args.torch_threads), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"snnTorch run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--train-range", default="0:3000")
    p.add_argument("--test-range", default="3000:3615")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--torch-python", default=None,
                   help="a Python with torch and snntorch (default: this one)")
    p.add_argument("--torch-threads", type=int, default=0,
                   help="torch threads for snnTorch (0: torch's default)")
    p.add_argument("--skip-snntorch", action="store_true")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        ex_args = example.build_parser().parse_args([
            "--data", a.data, "--epochs", str(a.epochs), "--batch", str(a.batch),
            "--steps", str(a.steps), "--train-range", a.train_range,
            "--test-range", a.test_range, "--seed", str(a.seed), "--no-progress", "--json",
            "--plot", os.path.join(tmp, "curve.png")])
        bs = example.run(ex_args)
    # peak memory of this process (JAX, the data, BPTT over T steps): Linux reports KiB
    bs["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    st = None if a.skip_snntorch else run_snntorch(a)

    rows = [("brainsim", bs)] + ([("snnTorch", st)] if st else [])
    print(f"{'library':10s} {'s/epoch (median)':>17s} {'train acc':>10s} {'test acc':>9s}",
          file=sys.stderr if a.json else sys.stdout)
    for name, r in rows:
        print(f"{name:10s} {r['epoch_s_median']:17.3f} {r['train_acc']:10.4f} "
              f"{r['test_acc']:9.4f}", file=sys.stderr if a.json else sys.stdout)
    result = {
        "benchmark": "train_fmnist", "epochs": a.epochs, "batch": a.batch, "steps": a.steps,
        "train_range": a.train_range, "test_range": a.test_range, "n_test": bs["n_test"],
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "brainsim": {k: bs[k] for k in ("epoch_s_median", "first_epoch_s", "train_acc",
                                        "test_acc", "max_rss_mb")},
    }
    if st:
        result["snntorch"] = {k: st[k] for k in ("epoch_s_median", "train_acc", "test_acc",
                                                 "torch", "snntorch", "threads")}
        result["time_ratio"] = bs["epoch_s_median"] / st["epoch_s_median"]
        result["acc_diff"] = bs["test_acc"] - st["test_acc"]
    if a.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
