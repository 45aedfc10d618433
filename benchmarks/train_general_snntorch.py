"""snnTorch side of benchmarks/train_general.py (runs under a Python with torch and snntorch).

The same network, data, initial weights and batches as the brainsim side (read from the
``.npz`` that train_general.py writes). One step, dt = 1 ms, b = exp(-dt / 10 ms), c = exp(-dt / 5 ms):

    x_t ~ Bernoulli(pixel)                                   (rate code, drawn every step)
    V  <- b V + (1 - b) (x_t W_in + z_{t-1} W_rec)           (snn.Leaky, input scaled by 1 - b)
    z_t = H(V - 1), V <- 0 where z_t                         (reset_delay=False: right after the spike)
    U  <- c U + (1 - c) z_t W_out                            (snn.Leaky, reset_mechanism="none")

Loss: cross-entropy of the readout's mean over time; Adam. Written for speed: the input
projection of all T steps is one matrix product before the loop (the recurrent one cannot
be), the readout likewise after it, no per-step Python allocations besides the loop's own.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import snntorch as snn
import torch
from snntorch import surrogate
from torch import nn


class Net(nn.Module):
    def __init__(self, w_in, w_rec, w_out, beta, beta_out):
        super().__init__()
        self.w_in = nn.Parameter(torch.from_numpy(w_in.copy()))
        self.w_rec = nn.Parameter(torch.from_numpy(w_rec.copy()))
        self.w_out = nn.Parameter(torch.from_numpy(w_out.copy()))
        self.beta, self.beta_out = beta, beta_out
        self.lif = snn.Leaky(beta=beta, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0),
                             reset_mechanism="zero", reset_delay=False)
        self.out = snn.Leaky(beta=beta_out, threshold=1.0, spike_grad=surrogate.atan(alpha=2.0),
                             reset_mechanism="none")

    def forward(self, x):                     # x: [T, B, N_in] 0/1
        T, B = x.shape[0], x.shape[1]
        cur = (1.0 - self.beta) * (x @ self.w_in)
        w_rec = (1.0 - self.beta) * self.w_rec
        mem = self.lif.reset_mem()
        z = torch.zeros(B, self.w_rec.shape[0])
        spikes = []
        for t in range(T):
            z, mem = self.lif(cur[t] + z @ w_rec, mem)
            spikes.append(z)
        s = torch.stack(spikes)
        h = (1.0 - self.beta_out) * (s @ self.w_out)
        mem2 = self.out.reset_mem()
        outs = []
        for t in range(T):
            _, mem2 = self.out(h[t], mem2)
            outs.append(mem2)
        return s, torch.stack(outs)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--npz", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d = np.load(a.npz)
    T, B, lr = int(d["T"]), int(d["batch"]), float(d["lr"])
    beta, beta_out = math.exp(-1.0 / float(d["tau_ms"])), math.exp(-1.0 / float(d["tau_out_ms"]))
    net = Net(d["w_in"], d["w_rec"], d["w_out"], beta, beta_out)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    x_tr, y_tr = torch.from_numpy(d["x_tr"]), torch.from_numpy(d["y_tr"].astype(np.int64))
    x_te, y_te = torch.from_numpy(d["x_te"]), torch.from_numpy(d["y_te"].astype(np.int64))
    times, accs = [], []
    for epoch in range(a.epochs):
        order = torch.from_numpy(d["orders"][epoch])
        t0 = time.perf_counter()
        correct = n = 0
        for k in range(0, len(order) - B + 1, B):
            idx = order[k:k + B]
            xb = x_tr[idx]
            spikes_in = (torch.rand((T,) + xb.shape) < xb).float()
            _, out = net(spikes_in)
            logits = out.mean(0)
            loss = nn.functional.cross_entropy(logits, y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            correct += int((logits.argmax(1) == y_tr[idx]).sum())
            n += B
        times.append(time.perf_counter() - t0)
        accs.append(correct / n)
        print(f"snntorch epoch {epoch + 1}: {times[-1]:.2f} s, train acc {accs[-1]:.4f}",
              file=sys.stderr, flush=True)
    correct = 0
    with torch.no_grad():
        for k in range(0, len(y_te), B):
            xb = x_te[k:k + B]
            _, out = net((torch.rand((T,) + xb.shape) < xb).float())
            correct += int((out.mean(0).argmax(1) == y_te[k:k + B]).sum())
    timed = times[1:] if len(times) > 1 else times
    print(json.dumps({"library": "snntorch", "version": snn.__version__, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "epoch_s": statistics.median(timed),
                      "epoch_times": times, "train_acc": accs[-1], "test_acc": correct / len(y_te)}))


if __name__ == "__main__":
    main()
