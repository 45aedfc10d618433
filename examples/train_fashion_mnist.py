"""Train a spiking classifier on Fashion-MNIST with surrogate gradients (BPTT).

Network (ICLR 2024 BrainPy appendix, Zenke's SpyTorch setup): 784 latency-coded inputs ->
exponential synapses (tau 10 ms) -> 100 LIF neurons (tau 10 ms, threshold 1, reset to 0,
arctan surrogate) -> exponential synapses (tau 10 ms) -> 10 leaky-integrator readouts
(tau 5 ms); dt = 1 ms, T = 100 steps. Loss: cross-entropy on the readout's maximum over time
plus 1e-5 x (total hidden spikes) and 1e-5 x (mean squared spike count per hidden neuron);
Adam, learning rate 1e-3.

Speed: every pixel spikes at most once, so the input current for all T steps is computed
before the time loop by ``brainsim.train.first_spike_current`` (cost ~ number of spikes, not
T x 784); the whole step (forward loop, BPTT and the Adam update) is one ``brainsim.jit``.

Usage::

    python examples/train_fashion_mnist.py --data ../shared/data/fashion-mnist-head \
        --epochs 30 --train-range 0:3000 --test-range 3000:3615 --ckpt runs/fmnist

A run with ``--ckpt DIR`` saves ``DIR/checkpoint.npz`` (model, optimizer, random key) and
``DIR/history.json`` after every epoch and resumes from them when started again.
``--json`` prints one final line ``{"epochs", "epoch_s_median", "train_acc", "test_acc",
"n_test", ...}``; the progress bars go to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import brainunit as u
import jax.numpy as jnp
import numpy as np
import optax

import brainsim
from brainsim import datasets, encoding, neurons, surrogate, synapses, train


class FashionSNN(brainsim.DynamicsModule):
    """784 -> 100 LIF -> 10 leaky integrators, with exponential synapses on both projections."""

    def __init__(self, n_in: int = 784, n_hidden: int = 100, n_out: int = 10,
                 num_steps: int = 100, w1_scale: float = 1.0, w2_scale: float = 4.0,
                 remat: bool = False):
        super().__init__(n_in, name="net")
        self.num_steps, self.remat = num_steps, remat
        self.w1 = brainsim.ParamState(brainsim.random.normal(0., w1_scale / np.sqrt(n_in),
                                                             (n_in, n_hidden)))
        self.w2 = brainsim.ParamState(brainsim.random.normal(0., w2_scale / np.sqrt(n_hidden),
                                                             (n_hidden, n_out)))
        self.syn1 = synapses.Expon(n_hidden, tau=10. * u.ms)
        self.lif = neurons.LIF(n_hidden, tau=10. * u.ms, V_th=1., V_reset=0., V_rest=0.,
                               spk_fun=surrogate.Arctan())
        self.syn2 = synapses.Expon(n_out, tau=10. * u.ms)
        self.readout = neurons.LeakyIntegrator(n_out, tau=5. * u.ms)

    def update(self, first_steps):
        """``first_steps`` (int, [B, 784]): each pixel's spike step (>= T: none).

        Returns the hidden spikes [T, B, 100] and the readout potential [T, B, 10].
        """
        brainsim.reset_states(self, batch_size=first_steps.shape[0])
        current = train.first_spike_current(first_steps, self.w1.value, self.num_steps)
        spikes = brainsim.for_loop(lambda i: self.lif(self.syn1(i)), current, remat=self.remat)
        # the hidden layer is feed-forward: project all steps in one matrix product
        v = brainsim.for_loop(lambda i: self.readout(self.syn2(i)), spikes @ self.w2.value,
                              remat=self.remat)
        return spikes, v


def loss_and_logits(net: FashionSNN, first_steps, labels, reg: float = 1e-5):
    spikes, v = net(first_steps)
    logits = train.max_over_time(v)
    loss = (train.cross_entropy(logits, labels) + reg * train.l1_spike_total(spikes)
            + reg * train.l2_spikes_per_neuron(spikes))
    return loss, logits


def encode(images: np.ndarray, num_steps: int) -> np.ndarray:
    """Latency code as spike steps: ``floor(current2firing_time(x))`` (T = never)."""
    x = np.asarray(images, np.float32).reshape(len(images), -1) / 255.
    t = encoding.current2firing_time(x, tau=20., thr=0.2, tmax=float(num_steps))
    return np.minimum(np.floor(np.asarray(t)), num_steps).astype(np.int32)


def _range(text: str, n: int, what: str) -> slice:
    try:
        lo, hi = (int(v) for v in text.split(":"))
    except ValueError:
        raise ValueError(f"--{what} must look like START:STOP (e.g. 0:3000), got {text!r}.") from None
    if not 0 <= lo < hi <= n:
        raise ValueError(f"--{what} {text} is outside the {n} images in the data set.")
    return slice(lo, hi)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="folder with the Fashion-MNIST IDX files")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=100, help="time steps T (dt = 1 ms)")
    p.add_argument("--train-range", default="0:3000")
    p.add_argument("--test-range", default="3000:3615")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--remat", action="store_true", help="rematerialise the loops in BPTT")
    p.add_argument("--ckpt", default=None, help="checkpoint folder (resumed when present)")
    p.add_argument("--plot", default=None, help="training-curve PNG (default: DIR/curve.png "
                   "with --ckpt, else fashion_mnist_curve.png)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--json", action="store_true", help="print one final JSON line")
    return p


def run(args: argparse.Namespace) -> dict:
    brainsim.environ.set(dt=1. * u.ms)
    brainsim.random.seed(args.seed)
    data = datasets.FashionMNIST(args.data, split="train", download=False)
    tr = _range(args.train_range, len(data), "train-range")
    te = _range(args.test_range, len(data), "test-range")
    steps_tr, y_tr = encode(data.images[tr], args.steps), data.labels[tr].astype(np.int32)
    steps_te, y_te = encode(data.images[te], args.steps), data.labels[te].astype(np.int32)
    B = args.batch
    if len(y_tr) < B:
        raise ValueError(f"--batch {B} is larger than the {len(y_tr)} training images.")
    # full batches only in training: one compiled program, each epoch a new shuffle
    loader = datasets.DataLoader(steps_tr, y_tr, batch_size=B, shuffle=True, seed=args.seed,
                                 drop_last=True)

    net = brainsim.init_states(FashionSNN(num_steps=args.steps, remat=args.remat), B)
    opt = train.Optimizer(optax.adam(args.lr), net)

    def train_loss(s, y):
        loss, logits = loss_and_logits(net, s, y)
        return loss, train.accuracy(logits, y)

    train_step = train.make_train_step(train_loss, opt, has_aux=True)
    predict = brainsim.jit(lambda s: jnp.argmax(loss_and_logits(net, s, jnp.zeros(B, jnp.int32))[1], -1))

    def evaluate(steps, labels):
        correct = 0
        for k in range(0, len(labels), B):
            chunk = steps[k:k + B]
            n = len(chunk)
            if n < B:  # keep the partial batch: pad with silent inputs, ignore their outputs
                chunk = np.concatenate([chunk, np.full((B - n,) + chunk.shape[1:], args.steps,
                                                       chunk.dtype)])
            correct += int(np.sum(np.asarray(predict(chunk))[:n] == labels[k:k + n]))
        return correct / len(labels)

    ckpt = Path(args.ckpt) if args.ckpt else None
    history: list[dict] = []
    if ckpt is not None and (ckpt / "checkpoint.npz").exists():
        brainsim.load_checkpoint(ckpt / "checkpoint.npz", {"model": net, "opt": opt})
        history = json.loads((ckpt / "history.json").read_text())["epochs"]
        _log(args, f"resumed from {ckpt} after epoch {len(history)}")

    bar_cls = None
    if not args.no_progress:
        from tqdm import tqdm as bar_cls
    for epoch in range(len(history), args.epochs):
        batches = loader.epoch(epoch)
        if bar_cls is not None:
            batches = bar_cls(batches, total=len(loader), desc=f"epoch {epoch + 1}/{args.epochs}",
                              leave=False, file=sys.stderr)
        t0 = time.perf_counter()
        losses, accs = [], []
        for s, y in batches:
            loss, acc = train_step(s, y)
            losses.append(loss)
            accs.append(acc)
        losses = [float(v) for v in losses]   # waits for the last step
        seconds = time.perf_counter() - t0
        test_acc = evaluate(steps_te, y_te)
        history.append({"epoch": epoch + 1, "seconds": seconds, "loss": float(np.mean(losses)),
                        "train_acc": float(np.mean([float(a) for a in accs])),
                        "test_acc": test_acc})
        _log(args, f"epoch {epoch + 1:3d}: {seconds:6.2f} s  loss {history[-1]['loss']:.4f}  "
                   f"train acc {history[-1]['train_acc']:.4f}  test acc {test_acc:.4f}")
        if ckpt is not None:
            brainsim.save_checkpoint(ckpt / "checkpoint.npz", {"model": net, "opt": opt})
            (ckpt / "history.json").write_text(json.dumps({"epochs": history}, indent=1))

    plot_path = Path(args.plot) if args.plot else (
        ckpt / "curve.png" if ckpt is not None else Path("fashion_mnist_curve.png"))
    if history:
        plot_curves(history, plot_path)
    # epoch 1 includes compilation: leave it out of the median when there are others
    times = [h["seconds"] for h in history]
    timed = times[1:] if len(times) > 1 else times
    return {"library": "brainsim", "epochs": len(history),
            "epoch_s_median": statistics.median(timed) if timed else None,
            "first_epoch_s": times[0] if times else None,
            "train_acc": history[-1]["train_acc"] if history else None,
            "test_acc": evaluate(steps_te, y_te), "n_test": int(len(y_te)),
            "curve": str(plot_path)}


def plot_curves(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax1.plot(ep, [h["loss"] for h in history])
    ax1.set(xlabel="epoch", ylabel="training loss", title="loss")
    ax2.plot(ep, [h["train_acc"] for h in history], label="train")
    ax2.plot(ep, [h["test_acc"] for h in history], label="test")
    ax2.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    ax2.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _log(args: argparse.Namespace, text: str) -> None:
    print(text, file=sys.stderr if args.json else sys.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    print(json.dumps(result) if args.json else result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
