"""Working memory (paper section 5.3): spiking and rate networks learn delayed match-to-sample.

The task (``brainsim.datasets.DMS``): fixation, a sample direction (one of 8, seen through 24
von Mises-tuned Poisson inputs), a delay with background input only, then a test direction;
the network answers *match* or *non-match* during the test phase.

Spiking network (``wm_model.SpikingWM``, the setup of the paper's ``spiking_version.py``):
80 E + 20 I GIF neurons (``brainsim.neurons.GIF``; soft reset, threshold 1, tau 20 ms, a fast
spike-triggered current on the I neurons, a slow adaptation current A2 = -0.6 with a time
constant drawn in 100-3000 ms on every neuron), recurrent weights under Dale's law
(``brainsim.layers.DaleLinear``, no self-connections) into a 100 ms exponential synapse, and a
linear readout through an exponential filter. Trained by BPTT through ``brainsim.for_loop``
with the piecewise-linear surrogate gradient and Adam, cross-entropy over every step of the
test phase, plus a membrane band regulariser (``train.membrane_band_penalty``, band (-2, 0.4)
of (V - V_th) / V_th as in the paper) and a firing-rate regulariser
(``train.firing_rate_penalty``, 2 Hz). The sample is held through the delay by the adaptation
current: the neurons it drove stay less excitable, so a matching test evokes fewer spikes.

Departures from the paper's script, all to learn in a few hundred iterations on a CPU: the
readout learns at 1e-2 and the recurrent network at 3e-4 (the paper: 1e-3 for all); the input
weights are initialised 3.5x larger (KaimingNormal scale 5 instead of 0.4) and the readout
filter is 100 ms (10 ms in the paper): both raise the spike count the decision is read from;
the regularisers are weak (0.1 and 0.01), because a strong lower membrane bound undoes the
adaptation that carries the memory. ``--full`` (the paper's 1-s delay) also reads the answer
through a 1,000 ms readout filter, draws the adaptation time constants in 500-3000 ms and trains
the recurrent network at the paper's 1e-3 on a cosine decay to 0. The slow filter carries the
evidence of the start of the test phase to its end: as the test stimulus goes on it adapts the
neurons the sample left alone too, and the match / non-match difference fades (with the 100 ms
filter the readout of the last 100 ms alone was right on 61 % of the trials, 87 % with 1 s).
With the ``--quick`` settings (100 ms, 100-3000 ms, 3e-4 constant) ``--full`` stopped at 88.7 %. Nearly all remaining errors are non-matches 45
degrees from the sample (about half right). ``--lr-schedule``, ``--tau-i2``, ``--a2``,
``--tau-out``, ``--in-scale``, ``--readout``, ``--readout-lr``, ``--warmup`` and ``--clip``
rerun the tries listed in the README.

Rate network (``wm_model.RateWM``): the same 80 E + 20 I layout with Dale's law and ReLU
units (tau 100 ms) on the rate version of the same task (the expected spike probabilities,
scaled to a stimulus peak of 1); the E units start with a self-connection of 0.9.

Usage::

    python paper_experiments/working_memory/run.py --quick --json    # under 3 minutes
    python paper_experiments/working_memory/run.py --full --json     # the paper's task
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

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import brainsim  # noqa: E402
from brainsim import datasets, train  # noqa: E402
from wm_model import RateWM, SpikingWM  # noqa: E402

PRESETS = {
    # dt and phase durations in ms; epochs x batches of `batch` trials; learning rates of the
    # recurrent network (lr), of the spiking readout (readout_lr) and of the rate network
    "smoke": dict(dt=10., phases=(100., 200., 300., 200.), epochs=2, batches=2, batch=16,
                  n_test=32, lr=3e-4, readout_lr=1e-2, rate_lr=3e-3, tau_out=100., in_scale=5.),
    "quick": dict(dt=10., phases=(100., 300., 500., 400.), epochs=6, rate_epochs=10, batches=50,
                  batch=64,
                  n_test=512, lr=3e-4, readout_lr=1e-2, rate_lr=3e-3, tau_out=100., in_scale=5.),
    # the paper's task (500 / 500 / 1000 / 500 ms) and training size (5 epochs of 64 x 100
    # trials), at dt = 5 ms instead of 1 ms (see the README); for the 1-s delay the spiking
    # network reads its answer through a 1-s readout filter, draws its adaptation time
    # constants in 500-3000 ms and learns at the paper's 1e-3 on a cosine decay (2026-12-02:
    # 91.3 % against 88.7 % with the --quick settings tau_out 100, 100-3000 ms, 3e-4 constant)
    "full": dict(dt=5., rate_dt=10., rate_epochs=10, phases=(500., 500., 1000., 500.), epochs=5,
                 batches=100, batch=64,
                 n_test=1024, lr=1e-3, readout_lr=1e-2, rate_lr=3e-3, tau_out=1000., in_scale=5.,
                 tau_I2=(500., 3000.), lr_schedule="cosine"),
}


def make_task(cfg, mode):
    f, s, d, t = (p * u.ms for p in cfg["phases"])
    return datasets.DMS(dt=cfg["dt"] * u.ms, t_fixation=f, t_sample=s, t_delay=d, t_test=t,
                        n_inputs=24, n_directions=8, kappa=2., rate=40. * u.Hz,
                        bg_rate=1. * u.Hz, mode=mode)


def _schedule(rate, decay_steps=None, warmup_steps=0):
    """A learning rate: constant, or a cosine decay to 0 over ``decay_steps`` steps (the whole
    training), after a linear warm-up from 0 over the first ``warmup_steps`` when > 0.

    The cosine decay stops the swing of the last epochs (at a constant rate the ``--full`` test
    accuracy moved 84-89 % between epochs).
    """
    if warmup_steps < 0 or (decay_steps and warmup_steps >= decay_steps):
        raise ValueError(f"warmup_steps must be >= 0 and below the {decay_steps} training steps "
                         f"of the cosine decay; got {warmup_steps}. How to fix: e.g. --warmup 50, "
                         "or --warmup 0 for none.")
    if decay_steps and warmup_steps:
        return optax.warmup_cosine_decay_schedule(0., rate, warmup_steps, decay_steps, 0.)
    if decay_steps:
        return optax.cosine_decay_schedule(rate, decay_steps)
    if warmup_steps:
        return optax.join_schedules([optax.linear_schedule(0., rate, warmup_steps),
                                     optax.constant_schedule(rate)], [warmup_steps])
    return rate


class Trainer:
    """BPTT over whole trials: cross-entropy of the readout at every step of the test phase."""

    def __init__(self, net, task, lr, batch, regs, input_scale=1., readout_lr=None,
                 decay_steps=None, warmup_steps=0, clip=None):
        self.net, self.task, self.batch, self.regs = net, task, batch, regs
        self.input_scale = input_scale
        ph = task.phases["test"]
        self.n_resp = ph.stop - ph.start
        brainsim.init_states(net, batch)
        self._init = {k: s.value for k, s in net.states().items()
                      if not isinstance(s, brainsim.ParamState)}
        # the readout may learn faster than the recurrent network (readout_lr)
        ro = readout_lr or lr
        if clip is not None and not clip > 0:
            raise ValueError(f"clip must be a positive gradient norm, got {clip!r}. How to fix: "
                             "e.g. --clip 1, or leave --clip out for no clipping.")
        lr, ro = (_schedule(r, decay_steps, warmup_steps) for r in (lr, ro))
        tx = optax.multi_transform(
            {"net": optax.adam(lr), "readout": optax.adam(ro)},
            lambda p: {k: ("readout" if k.startswith("r2o") else "net") for k in p})
        if clip:
            # clip the global norm of the whole gradient before Adam's moments see it
            tx = optax.chain(optax.clip_by_global_norm(clip), tx)
        self.opt = train.Optimizer(tx, net)
        self.step = train.make_train_step(self.loss, self.opt, has_aux=True)
        self.evaluate = brainsim.jit(self.predict)

    def reset(self):
        for k, s in self.net.states().items():
            if k in self._init:
                s.value = self._init[k]

    def run(self, x):
        self.reset()
        return brainsim.for_loop(self.net.update, x * self.input_scale)

    def loss(self, x, y):
        outs = self.run(x)
        resp = outs[0][-self.n_resp:]                     # (T_test, B, 2)
        ce = train.cross_entropy(resp.reshape(-1, resp.shape[-1]), jnp.tile(y, self.n_resp))
        reg = 0.
        if "fr" in self.regs:
            reg = reg + self.regs["fr"][1] * train.firing_rate_penalty(outs[1], self.regs["fr"][0])
        if "mem" in self.regs:
            lo, hi, k = self.regs["mem"]
            reg = reg + k * train.membrane_band_penalty(outs[2], lo, hi)
        acc = train.accuracy(resp.mean(0), y)
        return ce + reg, dict(ce=ce, acc=acc)

    def predict(self, x):
        return jnp.argmax(self.run(x)[0][-self.n_resp:].mean(0), axis=-1)

    def test_acc(self, trials):
        preds = []
        for s in range(0, len(trials.labels), self.batch):
            xb = trials.x[:, s:s + self.batch]
            k = xb.shape[1]
            if k < self.batch:
                xb = np.concatenate([xb, np.zeros((xb.shape[0], self.batch - k, xb.shape[2]),
                                                  xb.dtype)], axis=1)
            preds.append(np.asarray(self.evaluate(jnp.asarray(xb)))[:k])
        return float(np.mean(np.concatenate(preds) == trials.labels))


def train_net(name, trainer, cfg, seed, log, epochs):
    """Train; return the history of (train accuracy, test accuracy) per epoch and the times."""
    test = trainer.task.sample(cfg["n_test"], seed=10_000 + seed)
    rng = np.random.default_rng(seed)
    hist, t0 = [], time.perf_counter()
    acc0 = trainer.test_acc(test)
    print(f"[{name}] before training: test acc {acc0:.3f}", file=log, flush=True)
    for epoch in range(epochs):
        accs, ces = [], []
        for _ in range(cfg["batches"]):
            tr = trainer.task.sample(cfg["batch"], seed=rng)
            _, aux = trainer.step(jnp.asarray(tr.x), jnp.asarray(tr.labels))
            accs.append(float(aux["acc"]))
            ces.append(float(aux["ce"]))
        te = trainer.test_acc(test)
        hist.append(dict(epoch=epoch + 1, train_acc=float(np.mean(accs)), test_acc=te,
                         ce=float(np.mean(ces)), s=round(time.perf_counter() - t0, 1)))
        print(f"[{name}] epoch {epoch + 1}: train acc {np.mean(accs):.3f}  ce {np.mean(ces):.3f}"
              f"  test acc {te:.3f}  ({time.perf_counter() - t0:.0f} s)", file=log, flush=True)
    return acc0, hist


def example_trial(trainer, seed):
    """One trial through the trained spiking network: inputs, spikes, readout (batch row 0)."""
    tr = trainer.task.sample(trainer.batch, seed=seed)
    out, s, _ = brainsim.jit(trainer.run)(jnp.asarray(tr.x))
    return tr, np.asarray(out[:, 0]), np.asarray(s[:, 0])


def plot(path, cfg, hist_s, hist_r, trial, title, initial=(None, None)):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tr, out, spikes = trial
    dt = cfg["dt"]
    fig = plt.figure(figsize=(10, 6.5))
    gs = fig.add_gridspec(3, 2, width_ratios=(1, 2.2))
    ax = fig.add_subplot(gs[:, 0])
    for h, a0, lab, m in ((hist_s, initial[0], "spiking (GIF)", "o-"),
                          (hist_r, initial[1], "rate (ReLU)", "s--")):
        if h:
            ax.plot([0] + [e["epoch"] for e in h], [100 * a0] + [100 * e["test_acc"] for e in h],
                    m, label=lab)
    ax.axhline(50, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(40, 101)
    ax.legend()
    ax.grid(alpha=0.3)
    ts = np.arange(tr.x.shape[0]) * dt
    axes = [fig.add_subplot(gs[i, 1]) for i in range(3)]
    t_in, i_in = np.nonzero(tr.x[:, 0])
    axes[0].plot(ts[t_in], i_in, "|", ms=3, color="k")
    axes[0].set_ylabel("input")
    t_s, i_s = np.nonzero(spikes)
    exc = i_s < 80
    axes[1].plot(ts[t_s[exc]], i_s[exc], "|", ms=2, color="tab:red", label="E")
    axes[1].plot(ts[t_s[~exc]], i_s[~exc], "|", ms=2, color="tab:blue", label="I")
    axes[1].set_ylabel("GIF neuron")
    for k, lab in enumerate(("non-match", "match")):
        axes[2].plot(ts, out[:, k], label=lab)
    axes[2].set_ylabel("readout")
    axes[2].set_xlabel("time (ms)")
    axes[2].legend(fontsize=8, loc="upper left")
    for a in axes:
        for name, sl in tr_phases(cfg).items():
            if name in ("sample", "test"):
                a.axvspan(sl[0], sl[1], color="gold", alpha=0.15)
        a.set_xlim(0, ts[-1] + dt)
    truth = "match" if tr.labels[0] else "non-match"
    axes[0].set_title(f"example trial: sample {tr.sample_dir[0]}, test {tr.test_dir[0]} ({truth})",
                      fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def tr_phases(cfg):
    edges = np.cumsum([0.] + list(cfg["phases"]))
    return dict(zip(("fixation", "sample", "delay", "test"), zip(edges[:-1], edges[1:])))


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    for name in PRESETS:
        g.add_argument(f"--{name}", dest="preset", action="store_const", const=name)
    p.set_defaults(preset="quick")
    p.add_argument("--epochs", type=int, default=None, help="training epochs; default: the "
                   "preset's")
    p.add_argument("--batches", type=int, default=None, help="training batches per epoch")
    p.add_argument("--lr", type=float, default=None, help="learning rate of the spiking network")
    p.add_argument("--rate-lr", type=float, default=None, help="learning rate of the rate network")
    p.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                   help="learning-rate schedule of the spiking network (cosine: decay to 0 over "
                        "all training steps); default: the preset's")
    p.add_argument("--dt", type=float, default=None, help="time step (ms)")
    p.add_argument("--phases", type=lambda s: tuple(float(v) for v in s.split(",")), default=None,
                   help="fixation,sample,delay,test durations (ms)")
    p.add_argument("--tau-i2", dest="tau_I2", default=None,
                   type=lambda s: tuple(float(v) for v in s.split(",")),
                   help="lo,hi (ms): range of the adaptation time constants of the spiking "
                        "network (lo = hi: one value for all); default: the preset's")
    p.add_argument("--a2", dest="A2", type=float, default=None,
                   help="amplitude of the spiking network's adaptation current (default -0.6)")
    p.add_argument("--tau-out", type=float, default=None,
                   help="time constant (ms) of the spiking readout's exponential filter; "
                        "default: the preset's")
    p.add_argument("--in-scale", type=float, default=None,
                   help="KaimingNormal scale of the spiking network's input weights; "
                        "default: the preset's")
    p.add_argument("--readout", choices=("all", "exc"), default=None,
                   help="neurons the spiking readout sees: all 100 or the 80 E only; "
                        "default: the preset's")
    p.add_argument("--readout-lr", type=float, default=None,
                   help="learning rate of the spiking readout; default: the preset's")
    p.add_argument("--warmup", type=int, default=None,
                   help="training steps of a linear learning-rate warm-up from 0 (spiking "
                        "network); default: the preset's")
    p.add_argument("--clip", type=float, default=None,
                   help="clip the global norm of the spiking network's gradient to this value "
                        "(optax.clip_by_global_norm); default: the preset's (none)")
    p.add_argument("--batch", type=int, default=None, help="trials per training batch")
    p.add_argument("--n-test", type=int, default=None, help="fixed test trials (seed 10,000 + "
                   "--seed); default: the preset's")
    p.add_argument("--fr-target", type=float, default=2., help="target rate (Hz)")
    p.add_argument("--fr-factor", type=float, default=0.1,
                   help="strength of the firing-rate regulariser")
    p.add_argument("--mem-factor", type=float, default=0.01,
                   help="strength of the membrane band regulariser, band (-2, 0.4)")
    p.add_argument("--only", choices=("spiking", "rate"), default=None,
                   help="train one network only (default: both)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights, the training "
                   "trials and the test trials")
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = dict(PRESETS[args.preset])
    for k in ("epochs", "batches", "lr", "rate_lr", "lr_schedule", "tau_I2", "A2", "dt", "phases",
              "batch", "n_test", "tau_out", "in_scale", "readout", "readout_lr", "warmup", "clip"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    log = sys.stderr if args.json else sys.stdout
    brainsim.environ.set(dt=cfg["dt"] * u.ms)
    t_start = time.perf_counter()
    rate_dt = cfg.get("rate_dt", cfg["dt"])
    spiking_task, rate_task = make_task(cfg, "spiking"), make_task({**cfg, "dt": rate_dt}, "rate")
    print(f"{args.preset}: {spiking_task}; {cfg['epochs']} epochs x {cfg['batches']} batches of "
          f"{cfg['batch']}", file=log, flush=True)
    res = dict(experiment="working_memory", preset=args.preset, dt_ms=cfg["dt"],
               phases_ms=list(cfg["phases"]), epochs=cfg["epochs"],
               rate_epochs=cfg.get("rate_epochs", cfg["epochs"]), rate_dt_ms=rate_dt,
               trials_per_epoch=cfg["batches"] * cfg["batch"], n_test=cfg["n_test"],
               lr_schedule=cfg.get("lr_schedule", "constant"),
               tau_I2_ms=list(cfg.get("tau_I2", (100., 3000.))), A2=cfg.get("A2", -0.6),
               tau_out_ms=cfg["tau_out"], in_scale=cfg["in_scale"],
               readout=cfg.get("readout", "all"), readout_lr=cfg["readout_lr"],
               warmup=cfg.get("warmup", 0), clip=cfg.get("clip"), fr_target_hz=args.fr_target,
               fr_factor=args.fr_factor, mem_factor=args.mem_factor)
    hist_s = hist_r = None
    trial = None
    if args.only in (None, "spiking"):
        brainsim.random.seed(args.seed)
        net = SpikingWM(spiking_task.n_inputs, tau_out=cfg["tau_out"] * u.ms,
                        in_scale=cfg["in_scale"], tau_I2=cfg.get("tau_I2", (100., 3000.)),
                        A2=cfg.get("A2", -0.6), readout=cfg.get("readout", "all"),
                        seed=args.seed)
        regs = {"fr": (args.fr_target * u.Hz, args.fr_factor), "mem": (-2., 0.4, args.mem_factor)}
        cosine = cfg.get("lr_schedule", "constant") == "cosine"
        ts = Trainer(net, spiking_task, cfg["lr"], cfg["batch"], regs,
                     readout_lr=cfg["readout_lr"],
                     decay_steps=cfg["epochs"] * cfg["batches"] if cosine else None,
                     warmup_steps=cfg.get("warmup", 0), clip=cfg.get("clip"))
        acc0, hist_s = train_net("spiking", ts, cfg, args.seed, log, cfg["epochs"])
        trial = example_trial(ts, seed=77)
        rate_hz = float(trial[2].mean() / (cfg["dt"] * 1e-3))
        res.update(spiking_test_acc=hist_s[-1]["test_acc"], spiking_initial_acc=acc0,
                   spiking_history=hist_s, spiking_train_s=hist_s[-1]["s"],
                   spiking_mean_rate_hz=round(rate_hz, 2))
    if args.only in (None, "rate"):
        brainsim.environ.set(dt=rate_dt * u.ms)
        net = RateWM(rate_task.n_inputs, seed=args.seed)
        # the rate inputs are spike probabilities per step; scale the stimulus peak to 1
        scale = 1. / float(u.maybe_decimal(rate_task.rate * rate_task.dt))
        tr_ = Trainer(net, rate_task, cfg["rate_lr"], cfg["batch"], {}, input_scale=scale)
        acc0, hist_r = train_net("rate", tr_, cfg, args.seed, log,
                                 cfg.get("rate_epochs", cfg["epochs"]))
        res.update(rate_test_acc=hist_r[-1]["test_acc"], rate_initial_acc=acc0,
                   rate_history=hist_r, rate_train_s=hist_r[-1]["s"])
    png = None
    if trial is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        png = str(out / f"working_memory_{args.preset}.png")
        plot(png, cfg, hist_s, hist_r, trial,
             f"DMS working memory ({args.preset}): test accuracy and a trained spiking network",
             initial=(res.get("spiking_initial_acc"), res.get("rate_initial_acc")))
    res.update(png=png, machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}",
               total_s=round(time.perf_counter() - t_start, 1))
    for k in ("spiking_test_acc", "rate_test_acc"):
        if k in res:
            print(f"{k}: {res[k]:.4f}", file=log)
    if args.json:
        print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
