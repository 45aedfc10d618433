"""The network of ``run.py`` written with snnTorch, Norse or SpikingJelly (run by ``TORCH_PYTHON``).

This script needs torch and the chosen library, not brainsim or JAX. ``run.py`` passes it an
``.npz`` with the latency-coded data (each pixel's spike step, ``T`` = none), the labels, the
initial weights and the shuffles, so that all four libraries train the same network from the
same start on the same batches. One step (dt = 1 ms), in every library:

    g1 <- a1 g1 + s_t W1              (exponential synapse, a1 = exp(-dt / 10 ms))
    V  <- b1 V + (1 - b1) g1           (LIF, b1 = exp(-dt / 10 ms): exponential Euler)
    z  =  H(V - 1), V <- 0 where z     (hard reset, detached; surrogate 1 / (1 + |V - 1|)^2)
    g2 <- a2 g2 + z W2                 (exponential synapse, tau 10 ms)
    U  <- b2 U + (1 - b2) g2           (leaky-integrator readout, b2 = exp(-dt / 5 ms))

How each library expresses it:
- snnTorch: ``snn.Synaptic`` for both layers with ``reset_mechanism="none"``, the input scaled
  by ``1 - beta`` (``Synaptic`` adds the synaptic current to the membrane unscaled);
  ``fast_sigmoid(slope=1)``; the hidden layer's hard reset applied after the call as
  ``mem = mem * (1 - spk.detach())``. snnTorch's own resets implement other equations
  (snnTorch 1.0.0, ``_neurons/synaptic.py``): ``reset_delay=False`` resets right after the spike
  as ``mem - (spk - reset) * mem`` with the surrogate-carrying ``spk`` (only ``mem_reset``'s
  ``reset``, which is 0 here, is detached), so the gradient also flows through the reset, and
  this network then trained slower and stalled; ``reset_delay=True`` (detached) zeroes the next
  step's whole update ``beta * mem + syn``, so the step after a spike loses its input.
- Norse: the synapses as ``g = a g + x`` (Norse's LIF cells with a current term integrate the
  membrane from the previous step's current, one step behind the order above), then
  ``LIFBoxCell`` and ``LIBoxCell`` with ``tau_mem_inv = (1 - b) / dt``, which makes their Euler
  step the exponential Euler step above; ``method="super"`` (Norse's SuperSpike is
  ``1 / (1 + |x|)^2``); a detached reset passed as ``reset_method``.
- SpikingJelly: ``layer.SynapseFilter`` is no exponential synapse of this form (it subtracts the
  spike-gated decay), so the synapses are ``g = a g + x`` too; ``neuron.LIFNode`` in multi-step
  mode with ``tau = 1 / (1 - b)`` (``decay_input``: the same step), ``v_reset = 0``,
  ``detach_reset=True``, ``surrogate.SuperSpike(alpha=1)``; the readout as ``U = b U + (1 - b) g``.

The input layer is feed-forward, so every library computes ``s @ W1`` for all T steps in one
matrix product before the time loop. Usage (normally called by run.py)::

    python torch_nets.py --lib snntorch --npz data.npz --epochs 3 --threads 2 --json
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

DT = 1e-3   # s


def spikes_of(steps: np.ndarray, T: int) -> torch.Tensor:
    """Dense [T, B, N] 0/1 spike train from each input's spike step (T = none)."""
    s = torch.zeros(T, steps.shape[0], steps.shape[1])
    b, i = np.nonzero(steps < T)
    s[torch.from_numpy(steps[b, i].astype(np.int64)), torch.from_numpy(b), torch.from_numpy(i)] = 1.0
    return s


class Net(nn.Module):
    def __init__(self, lib: str, w1: np.ndarray, w2: np.ndarray, tau_syn: float, tau_mem: float,
                 tau_out: float):
        super().__init__()
        self.lib = lib
        self.w1 = nn.Parameter(torch.from_numpy(w1.copy()))
        self.w2 = nn.Parameter(torch.from_numpy(w2.copy()))
        self.a = math.exp(-DT / tau_syn)
        self.b1 = math.exp(-DT / tau_mem)
        self.b2 = math.exp(-DT / tau_out)
        n_hid, n_out = w1.shape[1], w2.shape[1]
        if lib == "snntorch":
            import snntorch as snn
            from snntorch import surrogate
            grad = surrogate.fast_sigmoid(slope=1)
            # no built-in reset here: snnTorch's immediate reset (reset_delay=False) is
            # mem - spk * mem with the surrogate-carrying spk, and its delayed one zeroes the
            # membrane a step late, input included; forward() applies the detached reset
            self.lif1 = snn.Synaptic(alpha=self.a, beta=self.b1, threshold=1.0, spike_grad=grad,
                                     reset_mechanism="none")
            self.lif2 = snn.Synaptic(alpha=self.a, beta=self.b2, threshold=1.0, spike_grad=grad,
                                     reset_mechanism="none")
        elif lib == "norse":
            import norse.torch as norse
            from norse.torch.functional.lif_box import LIFBoxParameters
            from norse.torch.functional.leaky_integrator_box import LIBoxParameters

            def detached_reset(z, v, reset, th):
                z = z.detach()
                return (1 - z) * v + z * reset

            p1 = LIFBoxParameters(tau_mem_inv=torch.as_tensor((1 - self.b1) / DT),
                                  v_leak=torch.as_tensor(0.0), v_th=torch.as_tensor(1.0),
                                  v_reset=torch.as_tensor(0.0), method="super",
                                  alpha=torch.as_tensor(1.0), reset_method=detached_reset)
            self.lif1 = norse.LIFBoxCell(p1, dt=DT)
            self.li2 = norse.LIBoxCell(LIBoxParameters(tau_mem_inv=torch.as_tensor((1 - self.b2) / DT),
                                                       v_leak=torch.as_tensor(0.0)), dt=DT)
        elif lib == "spikingjelly":
            from spikingjelly.activation_based import neuron, surrogate
            self.lif1 = neuron.LIFNode(tau=1.0 / (1.0 - self.b1), decay_input=True, v_threshold=1.0,
                                       v_reset=0.0, surrogate_function=surrogate.SuperSpike(alpha=1.0),
                                       detach_reset=True, step_mode="m")
        else:
            raise ValueError(f"--lib must be snntorch, norse or spikingjelly, got {lib!r}")
        self.n_hid, self.n_out = n_hid, n_out

    def forward(self, x: torch.Tensor):
        """x: [T, B, 784] -> hidden spikes [T, B, H], readout [T, B, 10]."""
        T, B = x.shape[0], x.shape[1]
        cur = x @ self.w1                                   # [T, B, H], all steps at once
        if self.lib == "snntorch":
            cur = cur * (1.0 - self.b1)
            syn1, mem1 = self.lif1.reset_mem()
            syn2, mem2 = self.lif2.reset_mem()
            spikes, outs = [], []
            for t in range(T):
                z, syn1, mem1 = self.lif1(cur[t], syn1, mem1)
                mem1 = mem1 * (1.0 - z.detach())            # hard reset to 0, detached
                _, syn2, mem2 = self.lif2((1.0 - self.b2) * (z @ self.w2), syn2, mem2)
                spikes.append(z)
                outs.append(mem2)
            return torch.stack(spikes), torch.stack(outs)
        if self.lib == "norse":
            g1 = torch.zeros(B, self.n_hid)
            g2 = torch.zeros(B, self.n_out)
            s1 = s2 = None
            spikes, outs = [], []
            for t in range(T):
                g1 = self.a * g1 + cur[t]
                z, s1 = self.lif1(g1, s1)
                g2 = self.a * g2 + z @ self.w2
                u, s2 = self.li2(g2, s2)
                spikes.append(z)
                outs.append(u)
            return torch.stack(spikes), torch.stack(outs)
        # spikingjelly: the synapse over all steps, then the multi-step LIF node
        from spikingjelly.activation_based import functional
        functional.reset_net(self)
        g, gs = torch.zeros(B, self.n_hid), []
        for t in range(T):
            g = self.a * g + cur[t]
            gs.append(g)
        z = self.lif1(torch.stack(gs))                     # [T, B, H]
        h = z @ self.w2                                     # the readout is linear: all steps at once
        g2 = torch.zeros(B, self.n_out)
        u = torch.zeros(B, self.n_out)
        outs = []
        for t in range(T):
            g2 = self.a * g2 + h[t]
            u = self.b2 * u + (1.0 - self.b2) * g2
            outs.append(u)
        return z, torch.stack(outs)


def loss_of(spk, out, y, reg):
    logits = out.max(0).values
    ce = nn.functional.cross_entropy(logits, y)
    return ce + reg * spk.sum() + reg * (spk.sum((0, 1)) ** 2).mean(), logits


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lib", required=True, choices=("snntorch", "norse", "spikingjelly"))
    p.add_argument("--npz", required=True)
    p.add_argument("--epochs", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    d = np.load(a.npz)
    T, B, lr, reg = int(d["T"]), int(d["batch"]), float(d["lr"]), float(d["reg"])
    net = Net(a.lib, d["w1"], d["w2"], float(d["tau_syn"]), float(d["tau_mem"]), float(d["tau_out"]))
    opt = torch.optim.Adam([net.w1, net.w2], lr=lr)
    steps_tr, y_tr = d["steps_tr"], torch.from_numpy(d["y_tr"].astype(np.int64))
    steps_te, y_te = d["steps_te"], torch.from_numpy(d["y_te"].astype(np.int64))
    orders = d["orders"]
    times, accs, losses = [], [], []
    for epoch in range(a.epochs):
        order = orders[epoch % len(orders)]
        t0 = time.perf_counter()
        correct = n = 0
        total = 0.0
        for k in range(0, len(order) - B + 1, B):          # full batches, as brainsim
            idx = order[k:k + B]
            spk, out = net(spikes_of(steps_tr[idx], T))
            loss, logits = loss_of(spk, out, y_tr[idx], reg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * B
            correct += int((logits.argmax(1) == y_tr[idx]).sum())
            n += B
        times.append(time.perf_counter() - t0)
        accs.append(correct / n)
        losses.append(total / n)
        print(f"{a.lib} epoch {epoch + 1}: {times[-1]:.2f} s, loss {losses[-1]:.4f}, "
              f"train acc {accs[-1]:.4f}", file=sys.stderr, flush=True)
    correct = 0
    with torch.no_grad():
        for k in range(0, len(y_te), B):                    # the partial last batch is kept
            _, out = net(spikes_of(steps_te[k:k + B], T))
            correct += int((out.max(0).values.argmax(1) == y_te[k:k + B]).sum())
    from importlib.metadata import version
    timed = times[1:] if len(times) > 1 else times
    res = {"library": a.lib, "version": version(a.lib), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "epoch_s": statistics.median(timed),
           "epoch_times": times, "train_acc": accs[-1], "losses": losses, "train_accs": accs,
           "test_acc": correct / len(y_te), "test_correct": correct}
    print(json.dumps(res))


if __name__ == "__main__":
    main()
