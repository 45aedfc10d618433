"""The general training path: rate-coded input, a recurrent LIF layer, BPTT; brainsim vs snnTorch.

Unlike benchmarks/train_fmnist.py (latency code, where ``train.first_spike_current`` skips the
input product), nothing here has a shortcut: Bernoulli (rate-coded) input drawn every step,
784 -> H recurrent LIF (``layers.Linear`` in, ``layers.Linear`` recurrent, ``neurons.LIF``,
tau 10 ms, threshold 1, hard reset to 0, detached, arctan surrogate) -> ``layers.Linear`` ->
``neurons.LeakyIntegrator`` readout (tau 5 ms); dt = 1 ms, T = 25, batch 128; loss:
cross-entropy of the readout's mean over time; BPTT; Adam 1e-3. The brainsim model is written
as a user would: one ``brainsim.for_loop`` whose body calls the layers and neurons, with the
input projection of all T steps computed before the loop (one ``layers.Linear`` call on the
[T, B, 784] spikes), as the snnTorch model computes it with ``nn.Linear``.

The encoder gives the spikes as ``bool`` (``encoding.poisson(..., dtype=bool)``), and
``layers.Linear`` reads a bool input as events: the same sums, computed by adding the weight
rows of the active inputs (and, for the weight gradient, the gradient rows of the active
samples; a compiled kernel on XLA:CPU) instead of a GEMM over the 0/1 matrix. Row
``brainsim_float_input`` is the same model fed float32 spikes, which ``Linear`` multiplies with
a GEMM as torch does; ``--in-loop`` also times the bool model with the input projection inside
every step (row ``brainsim_in_loop``).

snnTorch (benchmarks/train_general_snntorch.py, the same equations, initial weights and batch
order) runs afterwards in a subprocess of ``--torch-python`` (default ``$TORCH_PYTHON``) with
the same number of threads as XLA (``--threads``, default 1: on this 2-core machine shared
with other jobs, more threads only contend), so the two never share the CPU. ``epoch_s`` is the median wall time of the training pass (encoding, forward, backward,
update) over the epochs after the first (brainsim's first compiles). Data: the Fashion-MNIST
head (``shared/data/fashion-mnist-head``), train [0, 3000), test [3000, 3615).

Usage::

    PYTHONPATH=. python benchmarks/train_general.py --epochs 4 --json
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

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import optax

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

import brainsim  # noqa: E402

if __name__ == "__main__" and _threads_from_argv(sys.argv[1:]) == 1:
    brainsim.environ.set_cpu_threads(1)
from brainsim import datasets, encoding, layers, neurons, surrogate, train  # noqa: E402


class RecurrentSNN(brainsim.DynamicsModule):
    """784 -> H recurrent LIF -> 10 leaky integrators."""

    def __init__(self, w_in, w_rec, w_out, tau_ms: float, tau_out_ms: float):
        n_in, n_hid = w_in.shape
        super().__init__(n_in, name="rsnn")
        self.fc_in = layers.Linear(n_in, n_hid, weight=jnp.asarray(w_in))
        self.fc_rec = layers.Linear(n_hid, n_hid, weight=jnp.asarray(w_rec))
        self.lif = neurons.LIF(n_hid, tau=tau_ms * u.ms, V_th=1., V_reset=0., V_rest=0.,
                               spk_fun=surrogate.Arctan())
        self.fc_out = layers.Linear(n_hid, w_out.shape[1], weight=jnp.asarray(w_out))
        self.readout = neurons.LeakyIntegrator(w_out.shape[1], tau=tau_out_ms * u.ms)

    def step(self, x):
        return self.step_current(self.fc_in(x))

    def step_current(self, i_in):
        z = self.lif(i_in + self.fc_rec(self.lif.spike.value))
        return self.readout(self.fc_out(z))

    def update(self, spikes_in, hoist: bool = True):
        """``spikes_in`` [T, B, 784] -> readout potential [T, B, 10].

        With ``hoist`` the input projection of all T steps is one [T*B, 784] x [784, H] product
        before the loop, as the snnTorch model computes it (mathematically the same sums; the
        blocking of the larger product may round the last bits differently); without it, a [B, 784] product inside every step.
        """
        brainsim.reset_states(self, batch_size=spikes_in.shape[1])
        if hoist:
            return brainsim.for_loop(self.step_current, self.fc_in(spikes_in))
        return brainsim.for_loop(self.step, spikes_in)


def run_brainsim(d: dict, epochs: int, log, rng: str = "hash", hoist: bool = True,
                 bool_input: bool = True) -> dict:
    brainsim.environ.set(dt=1. * u.ms)
    brainsim.random.seed(0)
    T, B = int(d["T"]), int(d["batch"])
    net = brainsim.init_states(RecurrentSNN(d["w_in"], d["w_rec"], d["w_out"],
                                            float(d["tau_ms"]), float(d["tau_out_ms"])), B)
    opt = train.Optimizer(optax.adam(float(d["lr"])), net)

    def logits_of(x):
        # bool spikes: Linear sums the weight rows of the active inputs (events); float32
        # spikes: it multiplies the 0/1 matrix with a GEMM, like torch's nn.Linear
        spikes = encoding.poisson(x, T, brainsim.random.split_key(), rng=rng,
                                  dtype=jnp.bool_ if bool_input else jnp.float32)
        return train.mean_over_time(net(spikes, hoist=hoist))

    def loss_fn(x, y):
        logits = logits_of(x)
        return train.cross_entropy(logits, y), train.accuracy(logits, y)

    step = train.make_train_step(loss_fn, opt, has_aux=True)
    predict = brainsim.jit(lambda x: jnp.argmax(logits_of(x), -1))
    x_tr, y_tr, x_te, y_te = d["x_tr"], d["y_tr"], d["x_te"], d["y_te"]
    times, accs = [], []
    for epoch in range(epochs):
        order = d["orders"][epoch]
        t0 = time.perf_counter()
        out = [step(x_tr[order[k:k + B]], y_tr[order[k:k + B]])
               for k in range(0, len(order) - B + 1, B)]
        acc = float(np.mean([float(a) for _, a in out]))      # waits for the last step
        times.append(time.perf_counter() - t0)
        accs.append(acc)
        print(f"brainsim ({rng}{'' if hoist else ', in loop'}{'' if bool_input else ', float input'}) epoch {epoch + 1}: {times[-1]:.2f} s, train acc {acc:.4f}", file=log, flush=True)
    correct = 0
    for k in range(0, len(y_te), B):
        xb = x_te[k:k + B]
        n = len(xb)
        if n < B:
            xb = np.concatenate([xb, np.zeros((B - n, xb.shape[1]), xb.dtype)])
        correct += int(np.sum(np.asarray(predict(xb))[:n] == y_te[k:k + n]))
    timed = times[1:] if len(times) > 1 else times
    return {"library": "brainsim", "epoch_s": statistics.median(timed), "first_epoch_s": times[0],
            "epoch_times": times, "train_acc": accs[-1], "test_acc": correct / len(y_te)}


def default_data() -> Path:
    for c in (HERE.parent.parent / "shared" / "data", Path("/work/shared/data")):
        if (c / "fashion-mnist-head").is_dir():
            return c / "fashion-mnist-head"
    return HERE.parent.parent / "shared" / "data" / "fashion-mnist-head"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--n-train", type=int, default=3000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rng", default="hash",
                   help="comma-separated encoding.poisson generators to time brainsim with "
                        "(hash, threefry); the first is the one reported as 'brainsim'")
    p.add_argument("--in-loop", action="store_true",
                   help="also time brainsim with the input projection inside every step "
                        "(row brainsim_in_loop)")
    p.add_argument("--torch-python", default=os.environ.get("TORCH_PYTHON"))
    p.add_argument("--threads", type=int, default=1,
                   help="threads of both libraries (1: XLA and torch single-threaded; with 2, XLA "
                        "uses its default thread pool and torch 2 threads)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    log = sys.stderr if a.json else sys.stdout
    data = datasets.FashionMNIST(Path(a.data) if a.data else default_data(), split="train",
                                 download=False)
    x = (np.asarray(data.images, np.float32).reshape(len(data.images), -1) / 255.)
    y = np.asarray(data.labels, np.int32)
    rng = np.random.default_rng(a.seed)
    H = a.hidden
    d = dict(x_tr=x[:a.n_train], y_tr=y[:a.n_train], x_te=x[3000:3615], y_te=y[3000:3615],
             w_in=rng.normal(0., 4. / np.sqrt(784), (784, H)).astype(np.float32),
             w_rec=rng.normal(0., 1. / np.sqrt(H), (H, H)).astype(np.float32),
             w_out=rng.normal(0., 4. / np.sqrt(H), (H, 10)).astype(np.float32),
             orders=np.stack([rng.permutation(a.n_train) for _ in range(a.epochs)]),
             T=a.steps, batch=a.batch, lr=a.lr, tau_ms=10., tau_out_ms=5.)
    rngs = [r.strip() for r in a.rng.split(",") if r.strip()]
    res = {"brainsim": run_brainsim(d, a.epochs, log, rngs[0])}
    for r in rngs[1:]:
        res[f"brainsim_{r}"] = run_brainsim(d, a.epochs, log, r)
    res["brainsim_float_input"] = run_brainsim(d, a.epochs, log, rngs[0], bool_input=False)
    if a.in_loop:
        res["brainsim_in_loop"] = run_brainsim(d, a.epochs, log, rngs[0], hoist=False)
    if not a.torch_python:
        res["snntorch"] = {"skipped": "TORCH_PYTHON is not set (nor --torch-python)"}
    else:
        with tempfile.TemporaryDirectory() as tmp:
            npz = os.path.join(tmp, "setup.npz")
            np.savez(npz, **d)
            cmd = [a.torch_python, str(HERE / "train_general_snntorch.py"), "--npz", npz,
                   "--epochs", str(a.epochs), "--threads", str(a.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            print(out.stderr.rstrip(), file=log)
            res["snntorch"] = (json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0
                               else {"skipped": f"snnTorch failed: {out.stderr.strip()[-400:]}"})
    print(f"{'library':20s} {'s/epoch':>8s} {'train acc':>9s} {'test acc':>8s}", file=log)
    for k, r in res.items():
        if "epoch_s" in r:
            print(f"{k:20s} {r['epoch_s']:8.3f} {r['train_acc']:9.4f} {r['test_acc']:8.4f}", file=log)
        else:
            print(f"{k:20s} skipped: {r['skipped']}", file=log)
    summary = dict(benchmark="train_general", epochs=a.epochs, hidden=H, batch=a.batch,
                   steps=a.steps, n_train=a.n_train, **res,
                   machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}")
    if "epoch_s" in res["snntorch"]:
        summary["speedup_vs_snntorch"] = res["snntorch"]["epoch_s"] / res["brainsim"]["epoch_s"]
        print(f"brainsim is {summary['speedup_vs_snntorch']:.2f}x faster than snnTorch per epoch",
              file=log)
    if a.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
