"""Online-trained VGG-style SNN (paper appendix, OTTT): accuracy, and training memory against T.

A small VGG-style spiking network (weight-standardised 3x3 convolutions, LIF neurons with a soft,
detached reset, average pooling, a linear readout) is trained with online training through time
(``brainsim.train.OTTT``, Xiao et al. 2022; the paper's ``-online_update`` run of
``brainpy_VGG-SNN.py``): one gradient per time step through the presynaptic traces of
``brainsim.train.OTTTLayer``, no graph over time. The image is the input current at every step
(direct coding, as in the paper), the loss per step is (0.05 MSE + 0.95 cross-entropy) / T and
the prediction is the summed output, as in the paper's script.

The paper trains on CIFAR-10, which is not on this machine: the stand-in is the Fashion-MNIST head
(the first 3,615 training images; train on [0, 3000), test on [3000, 3615)), 28 x 28 x 1.

Memory: the compiled peak memory (arguments + outputs + temporaries, ``memory_analysis()``) of one
training step at T = 16 over T = 4, for OTTT and, for contrast, BPTT through ``brainsim.for_loop``.

Usage::

    python paper_experiments/online_vgg/run.py --quick --json     # under 3 minutes
    python paper_experiments/online_vgg/run.py --full --json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import brainsim  # noqa: E402
from brainsim import datasets, layers, neurons, train  # noqa: E402

PRESETS = {
    # cfg: channels of each 3x3 conv, 'M' a 2x2 average pool (the paper: 64, 128, M, 256, 256, M,
    # 512, 512, M, 512, 512 on 32 x 32 CIFAR images, T = 6, 300 epochs, batch 128)
    "smoke": dict(cfg=(8, "M", 16, "M"), T=2, epochs=1, n_train=256, n_test=128, batch=64),
    "quick": dict(cfg=(8, "M", 16, "M", 16, "M"), T=4, epochs=2, n_train=3000, n_test=615,
                  batch=50),
    "full": dict(cfg=(16, "M", 32, "M", 32, "M"), T=6, epochs=2, n_train=3000, n_test=615,
                 batch=50),
}
DT = 1. * u.ms
# the paper's OnlineLIFNode: v <- (1 - 1/tau) v + x with tau = 2, i.e. a leak of 0.5 per step;
# brainsim's exponential-Euler LIF leaks exp(-dt/tau): tau = dt / ln 2 gives the same 0.5, and
# R = 1 / (1 - 0.5) makes the input enter unscaled
TAU = (1. / math.log(2.)) * u.ms
R_IN = 2.0
SPIKE_SCALE = 2.74          # the paper's Scale(2.74) after every spiking layer


def default_data() -> Path:
    env = os.environ.get("BRAINSIM_SHARED_DATA")
    for c in ([Path(env)] if env else []) + [REPO.parent / "shared" / "data", Path("/work/shared/data")]:
        if (c / "fashion-mnist-head").is_dir():
            return c / "fashion-mnist-head"
    return REPO.parent / "shared" / "data" / "fashion-mnist-head"


def load_data(root, n_train: int, n_test: int):
    """(x_train, y_train, x_test, y_test, note); x of shape (N, 28, 28, 1), standardised.

    With a test split in ``root`` (the full Fashion-MNIST or MNIST IDX files) it is used; with the
    train file only (the 3,615-image head) images [0, n_train) train and the next n_test test.
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
        x_tr, y_tr = tr.images[:n_train], tr.labels[:n_train]
        x_te, y_te = tr.images[n_train:n_train + n_test], tr.labels[n_train:n_train + n_test]
        note = (f"Fashion-MNIST head: train images [0, {n_train}), test images "
                f"[{n_train}, {n_train + n_test}) of the train file")
    else:
        x_tr, y_tr = tr.images[:n_train], tr.labels[:n_train]
        x_te, y_te = te.images[:n_test], te.labels[:n_test]
        note = f"first {len(y_tr)} train and {len(y_te)} test images"
    scaled = np.asarray(x_tr, np.float32) / 255.0
    mean, std = float(scaled.mean()), float(scaled.std())      # training-set statistics
    f = lambda x: ((np.asarray(x, np.float32) / 255.0 - mean) / std)[..., None]  # noqa: E731
    return f(x_tr), np.asarray(y_tr, np.int32), f(x_te), np.asarray(y_te, np.int32), note


class OnlineVGG(brainsim.Module):
    """VGG-style SNN: [WSConv2d -> LIF -> x2.74 | AvgPool2d] per cfg entry, flatten, Linear.

    Every synaptic layer after the first (whose input is the image, not spikes) is an
    ``OTTTLayer``, whose presynaptic trace decays like the membrane it feeds.
    """

    def __init__(self, cfg, hw=28, c_in=1, n_classes=10, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.blocks = []
        c, first = c_in, True
        for v in cfg:
            if v == "M":
                self.blocks.append(layers.AvgPool2d(2))
                hw //= 2
                continue
            conv = layers.WSConv2d(c, v, 3, padding=1, weight=lambda s: rng.normal(size=s).astype(np.float32))
            if not first:
                conv = train.OTTTLayer(conv, (hw, hw, c), decay=TAU)
            first = False
            self.blocks.append(conv)
            self.blocks.append(neurons.LIF((hw, hw, v), tau=TAU, V_th=1., V_reset=0., V_rest=0.,
                                           R=R_IN, spk_reset="soft", detach_reset=True))
            c = v
        n_flat = hw * hw * c
        fc = layers.Linear(n_flat, n_classes, bias=True,
                           weight=lambda s: (0.01 * rng.normal(size=s)).astype(np.float32))
        self.fc = train.OTTTLayer(fc, (n_flat,), decay=TAU)

    def __call__(self, x):
        for blk in self.blocks:
            x = blk(x)
            if isinstance(blk, neurons.LIF):
                x = SPIKE_SCALE * x
        return self.fc(x.reshape(x.shape[0], -1))


def make_loss(T):
    def loss(out, y):
        onehot = jax.nn.one_hot(y, out.shape[-1], dtype=out.dtype)
        mse = jnp.mean((out - onehot) ** 2)
        return (0.05 * mse + 0.95 * train.cross_entropy(out, y)) / T
    return loss


def peak_bytes(lowered) -> int:
    m = lowered.compile().memory_analysis()
    return int(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
               - m.alias_size_in_bytes)


def memory_ratio(cfg, batch, Ts=(4, 16), seed=0):
    """Peak compiled memory of one training step at each T, OTTT and BPTT (nothing runs)."""
    x = np.zeros((batch, 28, 28, 1), np.float32)
    y = np.zeros(batch, np.int32)
    out = {}
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(OnlineVGG(cfg, seed=seed), batch_size=batch)
        opt = train.Optimizer(optax.sgd(0.1, momentum=0.9), net.states(brainsim.ParamState))
        for T in Ts:
            loss = make_loss(T)
            ottt = train.OTTT(net, loss, opt)

            def total(loss=loss, T=T):
                return jnp.sum(brainsim.for_loop(lambda: loss(net(x), y), length=T))

            bptt = train.make_train_step(total, opt)
            out[T] = dict(ottt=peak_bytes(ottt.lower(x, y, n_steps=T)), bptt=peak_bytes(bptt.lower()))
    lo, hi = Ts
    return dict(T=list(Ts), ottt_bytes=[out[T]["ottt"] for T in Ts],
                bptt_bytes=[out[T]["bptt"] for T in Ts],
                ottt_ratio=out[hi]["ottt"] / out[lo]["ottt"], bptt_ratio=out[hi]["bptt"] / out[lo]["bptt"])


def train_and_test(data, args, preset, log):
    x_tr, y_tr, x_te, y_te = data
    T, batch, cfg = args.T or preset["T"], preset["batch"], preset["cfg"]
    epochs = args.epochs or preset["epochs"]
    steps = epochs * (len(x_tr) // batch)
    with brainsim.environ.context(dt=DT):
        net = brainsim.init_states(OnlineVGG(cfg, seed=args.seed), batch_size=batch)
        sched = optax.cosine_decay_schedule(args.lr, steps)
        tx = optax.sgd(sched, momentum=0.9) if args.opt == "sgd" else optax.adam(sched)
        opt = train.Optimizer(tx, net.states(brainsim.ParamState))
        trainer = train.OTTT(net, make_loss(T), opt, online_update=args.online_update)

        @brainsim.jit
        def predict(xb):
            brainsim.reset_states(net, batch)
            return jnp.sum(brainsim.for_loop(lambda: net(xb), length=T), axis=0)

        def evaluate(x, y):
            correct = 0
            for s in range(0, len(x) - batch + 1, batch):
                correct += int(np.sum(np.argmax(np.asarray(predict(x[s:s + batch])), -1) == y[s:s + batch]))
            n = (len(x) // batch) * batch
            return correct / n, n

        rng = np.random.default_rng(args.seed)
        history, t_train = [], 0.0
        for ep in range(epochs):
            t0 = time.perf_counter()
            order = rng.permutation(len(x_tr))
            losses, hits, seen = [], 0, 0
            for s in range(0, len(order) - batch + 1, batch):
                idx = order[s:s + batch]
                brainsim.reset_states(net, batch)
                loss, out = trainer(x_tr[idx], y_tr[idx], n_steps=T)
                losses.append(float(loss))
                hits += int(np.sum(np.argmax(np.asarray(out), -1) == y_tr[idx]))
                seen += batch
            dt_ep = time.perf_counter() - t0
            t_train += dt_ep
            acc, n_test = evaluate(x_te, y_te)
            history.append(dict(epoch=ep + 1, loss=float(np.mean(losses)), train_acc=hits / seen,
                                test_acc=acc, epoch_s=round(dt_ep, 1)))
            print(f"epoch {ep + 1}/{epochs}: loss {np.mean(losses):.4f}  train {100 * hits / seen:.2f}%"
                  f"  test {100 * acc:.2f}% ({n_test} images)  {dt_ep:.1f} s", file=log, flush=True)
    n_params = sum(int(np.prod(jnp.shape(s.value))) for s in net.states(brainsim.ParamState).values())
    return dict(history=history, test_acc=history[-1]["test_acc"], n_test=n_test, T=T,
                epochs=epochs, train_s=round(t_train, 1), n_params=n_params)


def plot(res, mem, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ep = [h["epoch"] for h in res["history"]]
    a1.plot(ep, [100 * h["train_acc"] for h in res["history"]], "s--", label="train (during OTTT)")
    a1.plot(ep, [100 * h["test_acc"] for h in res["history"]], "o-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("accuracy (%)")
    a1.legend()
    a1.grid(alpha=0.3)
    a1.set_title(title, fontsize=9)
    mb = lambda b: [v / 2 ** 20 for v in b]  # noqa: E731
    a2.plot(mem["T"], mb(mem["ottt_bytes"]), "o-", label=f"OTTT (x{mem['ottt_ratio']:.2f})")
    a2.plot(mem["T"], mb(mem["bptt_bytes"]), "s--", label=f"BPTT (x{mem['bptt_ratio']:.2f})")
    a2.set_xlabel("time steps T")
    a2.set_ylabel("peak memory of one step (MiB)")
    a2.legend()
    a2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    for name in PRESETS:
        g.add_argument(f"--{name}", dest="preset", action="store_const", const=name)
    p.set_defaults(preset="quick")
    p.add_argument("--data", default=None, help="folder with Fashion-MNIST (or MNIST) IDX files")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("-T", "--T", type=int, default=None, help="time steps per image (training and test)")
    p.add_argument("--opt", choices=("sgd", "adam"), default="sgd",
                   help="sgd: the paper's SGD with momentum 0.9 and a cosine schedule")
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--online-update", action="store_true",
                   help="update the weights after every time step (default: once per batch)")
    p.add_argument("--mem-batch", type=int, default=None, help="batch of the memory measurement")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    preset = PRESETS[args.preset]
    t_start = time.perf_counter()
    root = Path(args.data) if args.data else default_data()
    x_tr, y_tr, x_te, y_te, note = load_data(root, preset["n_train"], preset["n_test"])
    log = sys.stderr if args.json else sys.stdout
    print(f"data: {root} ({note}); {args.preset}: cfg {preset['cfg']}", file=log, flush=True)
    res = train_and_test((x_tr, y_tr, x_te, y_te), args, preset, log)
    t_mem = time.perf_counter()
    mem = memory_ratio(preset["cfg"], args.mem_batch or preset["batch"], seed=args.seed)
    mem_s = time.perf_counter() - t_mem
    print(f"peak memory of one training step, T=4 -> 16: OTTT {mem['ottt_bytes'][0] / 2**20:.1f} -> "
          f"{mem['ottt_bytes'][1] / 2**20:.1f} MiB (x{mem['ottt_ratio']:.3f}); BPTT "
          f"{mem['bptt_bytes'][0] / 2**20:.1f} -> {mem['bptt_bytes'][1] / 2**20:.1f} MiB "
          f"(x{mem['bptt_ratio']:.3f})", file=log, flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    png = str(out / f"online_vgg_{args.preset}.png")
    plot(res, mem, png, f"OTTT VGG-SNN {preset['cfg']}, T={res['T']}, Fashion-MNIST head")
    summary = dict(
        experiment="online_vgg", preset=args.preset, cfg=[str(c) for c in preset["cfg"]],
        test_acc=res["test_acc"], T=res["T"], epochs=res["epochs"], n_params=res["n_params"],
        online_update=args.online_update, opt=args.opt, lr=args.lr,
        history=res["history"], train_s=res["train_s"],
        peak_mem_ratio_T16_vs_T4=mem["ottt_ratio"], bptt_peak_mem_ratio_T16_vs_T4=mem["bptt_ratio"],
        ottt_peak_bytes=mem["ottt_bytes"], bptt_peak_bytes=mem["bptt_bytes"], mem_T=mem["T"],
        mem_batch=args.mem_batch or preset["batch"], mem_s=round(mem_s, 1),
        n_train=len(y_tr), n_test=res["n_test"], data=note, stand_in="Fashion-MNIST head for CIFAR-10",
        png=png, machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}",
        total_s=round(time.perf_counter() - t_start, 1))
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
