"""snnTorch's equivalent of examples/train_fashion_mnist.py, for benchmarks/train_fmnist.py.

Runs under a Python that has torch and snntorch (not brainsim/JAX): it reads the IDX files
itself. Network 784 -> 100 -> 10 of ``snn.Synaptic`` neurons (alpha 0.9, beta 0.85, both
learnable, atan surrogate, threshold 1, hidden reset to zero, readout without reset), the
same latency code (tau_eff 20 steps, threshold 0.2), loss (cross-entropy on the readout
membrane's maximum over time + 1e-5 L1 total spikes + 1e-5 L2 spikes per neuron), Adam 1e-3,
batch size (full batches), steps and split as the brainsim run. ``epoch_s`` times the training pass over
the training range (encoding, forward, backward, update), not the evaluation.

Usage: python benchmarks/train_fmnist_snntorch.py --data DIR --epochs 30 --json
"""

import argparse
import gzip
import json
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn


def read_idx(path: Path, magic: int) -> np.ndarray:
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    got, = struct.unpack(">I", raw[:4])
    if got != magic:
        raise ValueError(f"{path}: IDX magic {got}, expected {magic}")
    ndim = raw[3]
    shape = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(root: Path):
    def find(stem):
        for p in (root / (stem + ".gz"), root / stem):
            if p.exists():
                return p
        raise FileNotFoundError(f"{stem}(.gz) not found in {root}")
    x = read_idx(find("train-images-idx3-ubyte"), 2051).reshape(-1, 784) / 255.0
    y = read_idx(find("train-labels-idx1-ubyte"), 2049).astype(np.int64)
    return x.astype(np.float32), y


def latency_steps(x: np.ndarray, T: int, tau: float = 20.0, thr: float = 0.2) -> np.ndarray:
    """Step of each pixel's single spike (T = never), as brainsim.encoding.latency."""
    xc = np.clip(x, thr + 1e-7, None)
    t = np.where(x <= thr, float(T), tau * np.log(xc / (xc - thr)))
    return np.floor(t).astype(np.int64)


def encode(steps: np.ndarray, T: int) -> torch.Tensor:
    s = torch.zeros(T, steps.shape[0], steps.shape[1])
    b, i = np.nonzero(steps < T)
    s[torch.from_numpy(steps[b, i]), torch.from_numpy(b), torch.from_numpy(i)] = 1.0
    return s


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        grad = surrogate.atan()
        self.fc1 = nn.Linear(784, 100)
        self.lif1 = snn.Synaptic(alpha=0.9, beta=0.85, learn_alpha=True, learn_beta=True,
                                 spike_grad=grad, threshold=1.0, reset_mechanism="zero")
        self.fc2 = nn.Linear(100, 10)
        self.lif2 = snn.Synaptic(alpha=0.9, beta=0.85, learn_alpha=True, learn_beta=True,
                                 spike_grad=grad, threshold=1.0, reset_mechanism="none")

    def forward(self, x):
        syn1, mem1 = self.lif1.reset_mem()
        syn2, mem2 = self.lif2.reset_mem()
        spikes, mems = [], []
        for t in range(x.shape[0]):
            spk1, syn1, mem1 = self.lif1(self.fc1(x[t]), syn1, mem1)
            _, syn2, mem2 = self.lif2(self.fc2(spk1), syn2, mem2)
            spikes.append(spk1)
            mems.append(mem2)
        return torch.stack(spikes), torch.stack(mems)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--train-range", default="0:3000")
    p.add_argument("--test-range", default="3000:3615")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    x, y = load(Path(a.data))
    tr = slice(*map(int, a.train_range.split(":")))
    te = slice(*map(int, a.test_range.split(":")))
    steps_tr, y_tr = latency_steps(x[tr], a.steps), torch.from_numpy(y[tr])
    steps_te, y_te = latency_steps(x[te], a.steps), torch.from_numpy(y[te])
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    ce = nn.CrossEntropyLoss()
    times, log = [], []
    for epoch in range(a.epochs):
        net.train()
        order = np.random.default_rng([a.seed, epoch]).permutation(len(y_tr))
        t0 = time.perf_counter()
        total, correct, n = 0.0, 0, 0
        for k in range(0, len(order) - a.batch + 1, a.batch):   # full batches, as brainsim
            idx = order[k:k + a.batch]
            xs, ys = encode(steps_tr[idx], a.steps), y_tr[idx]
            spk, mem = net(xs)
            logits = mem.max(0).values
            loss = ce(logits, ys) + 1e-5 * spk.sum() + 1e-5 * (spk.sum((0, 1)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == ys).sum())
            n += len(idx)
        times.append(time.perf_counter() - t0)
        log.append((total / n, correct / n))
        if not a.json:
            print(f"epoch {epoch + 1}: {times[-1]:.2f} s, loss {total / n:.4f}, "
                  f"train acc {correct / n:.4f}", flush=True)
    net.eval()
    correct = 0
    with torch.no_grad():
        for k in range(0, len(y_te), a.batch):   # the partial last batch is kept
            _, mem = net(encode(steps_te[k:k + a.batch], a.steps))
            correct += int((mem.max(0).values.argmax(1) == y_te[k:k + a.batch]).sum())
    result = {"library": "snntorch", "epochs": a.epochs,
              "epoch_s_median": statistics.median(times), "epoch_s": times,
              "train_acc": log[-1][1], "test_acc": correct / len(y_te), "n_test": len(y_te),
              "torch": torch.__version__, "snntorch": snn.__version__,
              "threads": torch.get_num_threads()}
    print(json.dumps(result) if a.json else result)


if __name__ == "__main__":
    sys.exit(main())
