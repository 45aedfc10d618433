"""SNN training on Fashion-MNIST (paper appendix): brainsim, snnTorch, Norse and SpikingJelly.

The appendix's setup (Zenke's SpyTorch tutorial, the paper's ``BrainPy_fashion_mnist.py``):
784 latency-coded inputs -> exponential synapses (tau 10 ms) -> 100 LIF neurons (tau 10 ms,
threshold 1, hard reset to 0, detached) -> exponential synapses (tau 10 ms) -> 10 leaky-integrator
readouts (tau 5 ms); dt = 1 ms, T = 100 steps; loss: cross-entropy on each readout's maximum
over time + 1e-5 x total hidden spikes + 1e-5 x mean squared spike count per hidden neuron;
Adam 1e-3, batch 256. The surrogate is SuperSpike's ``1 / (1 + |V - 1|)^2``, the one that all
four libraries have built in (Norse has no arctangent).

All four libraries train the *same* network: the same equations step by step (see
``torch_nets.py`` for how each library expresses them), the same initial weights, the same
batches in the same order, and the same test images. brainsim runs in this process; the
others run one after the other as subprocesses of ``TORCH_PYTHON`` (or ``--torch-python``),
so no two share the CPU, and are skipped, with a note, when it is not given. ``epoch_s`` is the
median wall time of the training pass (encoding, forward, BPTT, Adam) over the epochs after
the first (brainsim's first compiles), pooled over the seeds. ``--seeds K`` trains every
library from K starts (seeds ``--seed`` .. ``--seed + K - 1``: initial weights and shuffles, the
same for all four); ``test_acc`` is the mean over the seeds, ``test_acc_seeds`` and
``test_correct_seeds`` the per-seed figures. Every library runs single-threaded by default
(``--threads``): XLA through ``XLA_FLAGS`` and ``brainsim.environ.set_cpu_threads``, torch through ``torch.set_num_threads``.

brainsim computes the input current with ``brainsim.train.first_spike_current``: every pixel
spikes at most once, so the T x 784 dense product becomes a scatter of weight rows (its
gradient a gather), which the torch libraries have no counterpart of; they multiply the dense
[T, B, 784] spike train by W1 in one product.

Usage::

    python paper_experiments/snn_training/run.py --quick --json      # under 3 minutes
    TORCH_PYTHON=/work/venv-torch/bin/python python paper_experiments/snn_training/run.py --full
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _threads_from_argv(argv) -> int:
    for i, a in enumerate(argv):
        if a == "--threads" and i + 1 < len(argv):
            return int(argv[i + 1])
        if a.startswith("--threads="):
            return int(a.split("=", 1)[1])
    return 1


# XLA reads its thread settings when its CPU backend starts: one thread, like torch.
# The Eigen flag makes matmuls single-threaded; set_cpu_threads(1) (below) also keeps XLA
# from splitting loop fusions over two threads, which the flag alone does not.
if __name__ == "__main__" and _threads_from_argv(sys.argv[1:]) == 1 and "XLA_FLAGS" not in os.environ:
    os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false"

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import brainsim  # noqa: E402

if __name__ == "__main__" and _threads_from_argv(sys.argv[1:]) == 1:
    brainsim.environ.set_cpu_threads(1)
from brainsim import datasets, encoding, neurons, surrogate, synapses, train  # noqa: E402

LIBS = ("brainsim", "snntorch", "norse", "spikingjelly")
PRESETS = {
    "smoke": dict(train="0:512", test="3000:3256", epochs=2, seeds=1),
    "quick": dict(train="0:1536", test="3000:3615", epochs=3, seeds=1),
    "full": dict(train="0:3000", test="3000:3615", epochs=12, seeds=3),
}
TAU_SYN, TAU_MEM, TAU_OUT = 10e-3, 10e-3, 5e-3   # s
REG = 1e-5


def default_data() -> Path:
    env = os.environ.get("BRAINSIM_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data", Path("/work/shared/data")]:
        if (c / "fashion-mnist-head").is_dir():
            return c / "fashion-mnist-head"
    return REPO.parent / "shared" / "data" / "fashion-mnist-head"


def _range(text: str, n: int, what: str) -> slice:
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--{what} must look like START:STOP (e.g. 0:3000), got {text!r}.") from None
    if not 0 <= lo < hi <= n:
        raise ValueError(f"--{what} {text} is outside the {n} images of the data set.")
    return slice(lo, hi)


def encode(images: np.ndarray, T: int) -> np.ndarray:
    """Latency code as spike steps: ``floor(current2firing_time(x))`` (T = never)."""
    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.
    t = encoding.current2firing_time(x, tau=20., thr=0.2, tmax=float(T))
    return np.minimum(np.floor(np.asarray(t)), T).astype(np.int32)


class Net(brainsim.DynamicsModule):
    """784 -> 100 LIF -> 10 leaky integrators, exponential synapses on both projections."""

    def __init__(self, w1: np.ndarray, w2: np.ndarray, T: int):
        super().__init__(w1.shape[0], name="net")
        self.T = T
        self.w1 = brainsim.ParamState(jnp.asarray(w1))
        self.w2 = brainsim.ParamState(jnp.asarray(w2))
        self.syn1 = synapses.Expon(w1.shape[1], tau=TAU_SYN * 1e3 * u.ms)
        self.lif = neurons.LIF(w1.shape[1], tau=TAU_MEM * 1e3 * u.ms, V_th=1., V_reset=0.,
                               V_rest=0., spk_fun=surrogate.FastSigmoid(alpha=1.))
        self.syn2 = synapses.Expon(w2.shape[1], tau=TAU_SYN * 1e3 * u.ms)
        self.readout = neurons.LeakyIntegrator(w2.shape[1], tau=TAU_OUT * 1e3 * u.ms)

    def update(self, steps):
        """``steps`` (int [B, 784]) -> hidden spikes [T, B, 100], readout [T, B, 10]."""
        brainsim.reset_states(self, batch_size=steps.shape[0])
        current = train.first_spike_current(steps, self.w1.value, self.T)
        spikes = brainsim.for_loop(lambda i: self.lif(self.syn1(i)), current)
        return spikes, brainsim.for_loop(lambda i: self.readout(self.syn2(i)), spikes @ self.w2.value)


def loss_and_logits(net: Net, steps, labels):
    spikes, v = net(steps)
    logits = train.max_over_time(v)
    loss = (train.cross_entropy(logits, labels) + REG * train.l1_spike_total(spikes)
            + REG * train.l2_spikes_per_neuron(spikes))
    return loss, logits


def run_brainsim(d: dict, epochs: int, log) -> dict:
    brainsim.environ.set(dt=1. * u.ms)
    T, B = int(d["T"]), int(d["batch"])
    net = brainsim.init_states(Net(d["w1"], d["w2"], T), B)
    opt = train.Optimizer(optax.adam(float(d["lr"])), net)

    def train_loss(s, y):
        loss, logits = loss_and_logits(net, s, y)
        return loss, train.accuracy(logits, y)

    step = train.make_train_step(train_loss, opt, has_aux=True)
    predict = brainsim.jit(lambda s: jnp.argmax(loss_and_logits(net, s, jnp.zeros(B, jnp.int32))[1], -1))
    steps_tr, y_tr, steps_te, y_te = d["steps_tr"], d["y_tr"], d["steps_te"], d["y_te"]
    times, accs, losses = [], [], []
    for epoch in range(epochs):
        order = d["orders"][epoch % len(d["orders"])]
        t0 = time.perf_counter()
        out = [step(steps_tr[idx], y_tr[idx]) for idx in
               (order[k:k + B] for k in range(0, len(order) - B + 1, B))]
        vals = [(float(lo), float(ac)) for lo, ac in out]      # waits for the last step
        times.append(time.perf_counter() - t0)
        losses.append(float(np.mean([v[0] for v in vals])))
        accs.append(float(np.mean([v[1] for v in vals])))
        print(f"brainsim epoch {epoch + 1}: {times[-1]:.2f} s, loss {losses[-1]:.4f}, "
              f"train acc {accs[-1]:.4f}", file=log, flush=True)
    correct = 0
    for k in range(0, len(y_te), B):
        chunk = steps_te[k:k + B]
        n = len(chunk)
        if n < B:   # pad with silent inputs, ignore their outputs
            chunk = np.concatenate([chunk, np.full((B - n, chunk.shape[1]), T, chunk.dtype)])
        correct += int(np.sum(np.asarray(predict(chunk))[:n] == y_te[k:k + n]))
    timed = times[1:] if len(times) > 1 else times
    return {"library": "brainsim", "version": brainsim.__version__, "jax": jax.__version__,
            "epoch_s": statistics.median(timed), "first_epoch_s": times[0], "epoch_times": times,
            "train_acc": accs[-1], "train_accs": accs, "losses": losses,
            "test_acc": correct / len(y_te), "test_correct": correct}


def run_torch(lib: str, npz: str, epochs: int, args, log) -> dict:
    py = args.torch_python
    probe = subprocess.run([py, "-c", f"import torch, {lib}"], capture_output=True, text=True)
    if probe.returncode != 0:
        return {"skipped": f"`{py}` cannot import torch and {lib}: "
                           f"{probe.stderr.strip().splitlines()[-1:]}"}
    cmd = [py, str(HERE / "torch_nets.py"), "--lib", lib, "--npz", npz, "--epochs", str(epochs),
           "--threads", str(args.threads), "--json"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.stderr:
        print(res.stderr.rstrip(), file=log, flush=True)
    if res.returncode != 0:
        return {"skipped": f"{lib} failed (exit {res.returncode}): {res.stderr.strip()[-500:]}"}
    return json.loads(res.stdout.strip().splitlines()[-1])


def plot(results: dict, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    done = [(k, r) for k, r in results.items() if "epoch_s" in r]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.bar([k for k, _ in done], [r["epoch_s"] for _, r in done])
    ax1.set(ylabel="s / epoch (median)", title="training time")
    for k, r in done:
        ax2.plot(range(1, len(r["train_accs"]) + 1), r["train_accs"],
                 label=f"{k} ({r['test_acc']:.3f} test, mean of {len(r['test_acc_seeds'])})")
    ax2.set(xlabel="epoch", ylabel="train accuracy (first seed)", title=title)
    ax2.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def start_of(seed: int, n_train: int, epochs: int) -> dict:
    """One seed's start, shared by all four libraries: initial weights and the epochs' shuffles."""
    rng = np.random.default_rng(seed)
    # SpyTorch's initialisation, N(0, (7 (1 - b1))^2 / n_in), in this exponential-Euler form
    # (the input enters as (1 - b) g, SpyTorch's as g): w1 std 7 / sqrt(784), w2 std
    # 7 (1 - b1) / (1 - b2) / sqrt(100). The hidden layer fires from the start; with no spikes
    # the readout is 0 at every step and the gradient of its maximum over time is a tie that
    # JAX spreads over all steps and torch puts on one.
    return dict(w1=rng.normal(0., 7. / np.sqrt(784), (784, 100)).astype(np.float32),
                w2=rng.normal(0., 7. * (1 - np.exp(-0.1)) / (1 - np.exp(-0.2)) / np.sqrt(100),
                              (100, 10)).astype(np.float32),
                orders=np.stack([rng.permutation(n_train) for _ in range(epochs)]))


def combine(runs: list) -> dict:
    """One library's runs (one per seed) -> one entry: the median epoch time over all seeds'
    timed epochs, the mean test and train accuracy, and the per-seed figures."""
    if any("skipped" in r for r in runs):
        return next(r for r in runs if "skipped" in r)
    timed = [t for r in runs for t in (r["epoch_times"][1:] or r["epoch_times"])]
    out = {**runs[0], "epoch_s": statistics.median(timed),
           "test_acc": float(np.mean([r["test_acc"] for r in runs])),
           "test_acc_seeds": [r["test_acc"] for r in runs],
           "test_correct_seeds": [r["test_correct"] for r in runs],
           "train_acc": float(np.mean([r["train_acc"] for r in runs])),
           "losses_seeds": [r["losses"] for r in runs]}
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    for name in PRESETS:
        g.add_argument(f"--{name}", dest="preset", action="store_const", const=name)
    p.set_defaults(preset="quick")
    p.add_argument("--epochs", type=int, default=None, help="overrides the preset")
    p.add_argument("--train-range", default=None)
    p.add_argument("--test-range", default=None)
    p.add_argument("--data", default=None, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=100, help="time steps T (dt = 1 ms)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0, help="first seed (initial weights and shuffles)")
    p.add_argument("--seeds", type=int, default=None,
                   help="number of seeds, --seed, --seed + 1, ...: every library trains from each "
                        "seed's start; test_acc is the mean over the seeds (default: the preset's)")
    p.add_argument("--libs", default=",".join(LIBS), help=f"comma-separated subset of {LIBS}")
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"),
                   help="a Python with torch and the torch libraries (default: $TORCH_PYTHON)")
    p.add_argument("--threads", type=int, default=1,
                   help="threads of every library (1: XLA and torch single-threaded; on a 2-core "
                        "machine shared with other jobs more threads only contend)")
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None) -> dict:
    args = build_parser().parse_args(argv)
    preset = PRESETS[args.preset]
    epochs = args.epochs or preset["epochs"]
    libs = [s.strip() for s in args.libs.split(",") if s.strip()]
    bad = [s for s in libs if s not in LIBS]
    if bad:
        raise ValueError(f"--libs got {bad}; choose from {LIBS}.")
    log = sys.stderr if args.json else sys.stdout
    root = Path(args.data) if args.data else default_data()
    data = datasets.FashionMNIST(root, split="train", download=False)
    tr = _range(args.train_range or preset["train"], len(data), "train-range")
    te = _range(args.test_range or preset["test"], len(data), "test-range")
    T, B = args.steps, args.batch
    n_tr = tr.stop - tr.start
    if n_tr < B:
        raise ValueError(f"--batch {B} is larger than the {n_tr} training images; lower --batch.")
    n_seeds = args.seeds if args.seeds is not None else preset["seeds"]
    if n_seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {n_seeds}.")
    seeds = [args.seed + k for k in range(n_seeds)]
    shared = dict(steps_tr=encode(data.images[tr], T), y_tr=data.labels[tr].astype(np.int32),
                  steps_te=encode(data.images[te], T), y_te=data.labels[te].astype(np.int32),
                  T=T, batch=B, lr=args.lr, reg=REG, tau_syn=TAU_SYN, tau_mem=TAU_MEM, tau_out=TAU_OUT)
    note = (f"Fashion-MNIST head ({root}): train images [{tr.start}, {tr.stop}), test "
            f"[{te.start}, {te.stop}) of its 3,615 training images (the stand-in for the full set)")
    print(f"data: {note}; {args.preset}: {epochs} epochs, batch {B}, T {T}, seeds {seeds}",
          file=log, flush=True)
    runs: dict = {lib: [] for lib in libs}
    with tempfile.TemporaryDirectory() as tmp:
        # seeds outside, libraries inside: a change of machine load during the run falls on all
        for seed in seeds:
            d = {**shared, **start_of(seed, n_tr, epochs)}
            npz = os.path.join(tmp, f"setup_{seed}.npz")
            np.savez(npz, **d)
            for lib in libs:
                if lib == "brainsim":
                    r = run_brainsim(d, epochs, log)
                elif not args.torch_python:
                    r = {"skipped": "TORCH_PYTHON is not set (nor --torch-python)"}
                else:
                    r = run_torch(lib, npz, epochs, args, log)
                if "skipped" in r:
                    print(f"{lib} (seed {seed}): skipped: {r['skipped']}", file=log, flush=True)
                else:
                    print(f"{lib} (seed {seed}): test acc {r['test_acc']:.4f}", file=log, flush=True)
                runs[lib].append(r)
    results = {lib: combine(rs) for lib, rs in runs.items()}
    print(f"{'library':13s} {'s/epoch':>8s} {'ratio':>6s} {'train acc':>9s} {'test acc':>8s}  "
          f"(mean of {n_seeds} seed{'s' * (n_seeds > 1)}; per seed)", file=log)
    ref = results.get("brainsim", {}).get("epoch_s")
    for lib, r in results.items():
        if "epoch_s" in r:
            ratio = f"{r['epoch_s'] / ref:6.2f}" if ref else "     -"
            per = ", ".join(f"{a:.4f}" for a in r["test_acc_seeds"])
            print(f"{lib:13s} {r['epoch_s']:8.3f} {ratio} {r['train_acc']:9.4f} {r['test_acc']:8.4f}  "
                  f"({per})", file=log)
        else:
            print(f"{lib:13s} skipped ({r['skipped']})", file=log)
    png = Path(args.out) / f"snn_training_{args.preset}.png"
    plot(results, png, f"Fashion-MNIST head, {epochs} epochs")
    summary = {lib: ({"epoch_s": r["epoch_s"], "test_acc": r["test_acc"],
                      "test_acc_seeds": r["test_acc_seeds"], "test_correct_seeds": r["test_correct_seeds"],
                      "train_acc": r["train_acc"],
                      **({"first_epoch_s": r["first_epoch_s"]} if "first_epoch_s" in r else {}),
                      **({"threads": r["threads"], "version": r["version"]} if "threads" in r else {})}
                     if "epoch_s" in r else {"skipped": r["skipped"]}) for lib, r in results.items()}
    summary.update(experiment="snn_training", preset=args.preset, epochs=epochs, seeds=seeds,
                   batch=B, steps=T,
                   n_train=n_tr, n_test=te.stop - te.start, data=note, png=str(png),
                   machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}")
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
