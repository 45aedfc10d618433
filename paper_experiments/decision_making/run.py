"""Decision making (Wang 2002) with many trials run in parallel: psychometric curve and RTs.

The network (``dm_model.DecisionNet``, the parameters of the paper's notebook
``dmnet_with_parallel_computing/decision-making-tpu.ipynb``): selective E groups A and B, a
non-selective E group, an I group; AMPA, NMDA and GABA_A synapses; 2.4 kHz Poisson background
on every neuron; during the stimulus each A neuron gets Poisson input at
``mu_A = mu0 (1 + c / 100)`` and each B neuron at ``mu_B = mu0 (1 - c / 100)`` (mu0 = 40 Hz,
signed coherence c in %), both redrawn every 50 ms from a normal of s.d. 10 Hz.

Every (coherence, trial) pair is one lane of ``brainsim.vmap`` over a whole trial (a
``brainsim.for_loop`` over time inside); the lanes run in parallel, each with its own random
stream. With more than one device the lanes are split over a one-axis mesh
(``brainsim.vmap(..., mesh=sharding.make_mesh())``); lanes are padded to a multiple of the
device count.

Readout: the A and B population rates in a sliding 50 ms window. The decision is the first
group whose rate crosses ``--threshold`` (15 Hz, Wang 2002) after stimulus onset; its
reaction time is that crossing time minus the onset. A trial with no crossing during the
stimulus is decided by the higher rate over the last 100 ms of the stimulus and has no RT.

Usage::

    python paper_experiments/decision_making/run.py --quick --json   # scale 0.25, < 3 min
    python paper_experiments/decision_making/run.py --full --json    # 2,000 neurons
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

import brainsim  # noqa: E402
from brainsim import sharding  # noqa: E402
from dm_model import DecisionNet  # noqa: E402

PRESETS = {
    # the test's tiny run: 300 neurons, two strong coherences and zero, dt = 0.2 ms
    "smoke": dict(scale=0.15, coherences=(-51.2, 0., 51.2), trials=4, pre=100., stim=1000.,
                  delay=0., chunk=None, dt=0.2),
    # a scaled-down network (500 neurons: 60 A, 60 B, 280 N, 100 I; weights x 4), no delay
    # period (the decision is read during the stimulus)
    "quick": dict(scale=0.25, coherences=(-25.6, -12.8, -6.4, 0., 6.4, 12.8, 25.6), trials=20,
                  pre=100.,
                  stim=1000., delay=0., chunk=None),
    # the paper's sizes (2,000 neurons) and periods (100 / 1000 / 500 ms); Wang's coherences
    "full": dict(scale=1., coherences=(-51.2, -25.6, -12.8, -6.4, -3.2, 0., 3.2, 6.4, 12.8,
                                       25.6, 51.2), trials=20, pre=100., stim=1000.,
                 delay=500., chunk=44),
}
MU0, FREQ_SD, FREQ_INTERVAL = 40., 10., 50.   # Hz, Hz, ms


def stimulus(coh, cfg, rng, dt):
    """Per-step stimulus rates (Hz) of A and B for one trial of coherence ``coh`` (%)."""
    n_pre, n_stim, n_delay = (int(round(cfg[k] / dt)) for k in ("pre", "stim", "delay"))
    per = int(round(FREQ_INTERVAL / dt))
    n_seg = -(-n_stim // per)
    out = []
    for mean in (MU0 * (1. + coh / 100.), MU0 * (1. - coh / 100.)):
        seg = np.clip(rng.normal(mean, FREQ_SD, n_seg), 0., None)
        out.append(np.concatenate([np.zeros(n_pre), np.repeat(seg, per)[:n_stim],
                                   np.zeros(n_delay)]))
    return np.asarray(out, np.float32)                        # (2, T)


def make_runner(net, bin_steps, mesh):
    """A jitted function (mu_a, mu_b) of shape (lanes, T) -> spike counts (lanes, T/bin, 2)."""

    def trial(mu_a, mu_b):
        counts = brainsim.for_loop(net.update, mu_a, mu_b)     # (T, 2)
        return counts.reshape(-1, bin_steps, 2).sum(1)

    return brainsim.jit(brainsim.vmap(trial, batched_states=lambda: net.states(), mesh=mesh))


def decide(counts_ms, n_group, cfg, threshold, window=50):
    """Choices (1 = A, 0 = B) and RTs (ms, NaN without a crossing) from 1 ms bins."""
    lanes, T, _ = counts_ms.shape
    c = np.cumsum(np.concatenate([np.zeros((lanes, 1, 2)), counts_ms], axis=1), axis=1)
    rate = (c[:, window:] - c[:, :-window]) / (n_group * window * 1e-3)   # ends at t = k + w
    t_end = np.arange(window, T + 1)
    onset, stop = cfg["pre"], cfg["pre"] + cfg["stim"]
    during = (t_end > onset) & (t_end <= stop)
    choice = np.zeros(lanes, np.int32)
    rt = np.full(lanes, np.nan)
    late = slice(int(stop) - 100, int(stop))
    for k in range(lanes):
        r = rate[k, during]
        hit = np.nonzero(r.max(1) >= threshold)[0]
        if hit.size:
            i = hit[0]
            choice[k] = int(r[i, 0] >= r[i, 1])
            rt[k] = t_end[during][i] - onset
        else:
            tail = counts_ms[k, late].sum(0)
            choice[k] = int(tail[0] > tail[1]) if tail[0] != tail[1] else int(k % 2)
    return choice, rt


def plot(path, coh, p_a, n, rt_mean, rt_sd, example, cfg, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ax = axes[0]
    se = np.sqrt(np.clip(p_a * (1 - p_a), 1e-9, None) / np.maximum(n, 1))
    ax.errorbar(coh, p_a, yerr=se, fmt="o-", capsize=3)
    ax.axhline(0.5, color="gray", lw=0.8, ls=":")
    ax.set_xlabel("coherence c (%)  (A favoured for c > 0)")
    ax.set_ylabel("P(choose A)")
    ax.set_ylim(-0.03, 1.03)
    ax.set_title("psychometric curve")
    ax.grid(alpha=0.3)
    ax = axes[1]
    ok = np.isfinite(rt_mean)
    ax.errorbar(np.asarray(coh)[ok], rt_mean[ok], yerr=rt_sd[ok], fmt="s-", capsize=3,
                color="tab:red")
    ax.set_xlabel("coherence c (%)")
    ax.set_ylabel("reaction time (ms)")
    ax.set_title("reaction time (mean +- s.d.)")
    ax.grid(alpha=0.3)
    ax = axes[2]
    (counts, n_group, c_ex) = example
    k = np.ones(50) / (n_group * 50e-3)
    ts = np.arange(counts.shape[0])
    for j, lab in enumerate(("A", "B")):
        ax.plot(ts, np.convolve(counts[:, j], k, mode="same"), label=f"group {lab}")
    ax.axvspan(cfg["pre"], cfg["pre"] + cfg["stim"], color="gold", alpha=0.15)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("population rate (Hz, 50 ms window)")
    ax.set_title(f"one trial, c = {c_ex:g} %")
    ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick")
    g.add_argument("--full", dest="preset", action="store_const", const="full")
    g.add_argument("--smoke", dest="preset", action="store_const", const="smoke",
                   help=argparse.SUPPRESS)
    p.set_defaults(preset="quick")
    p.add_argument("--scale", type=float, default=None, help="network size / 2,000 neurons")
    p.add_argument("--trials", type=int, default=None, help="trials per coherence")
    p.add_argument("--coherences", type=lambda s: tuple(float(v) for v in s.split(",")),
                   default=None, help="signed coherences in %%, comma-separated")
    p.add_argument("--chunk", type=int, default=None,
                   help="lanes per parallel call (default: all in one call)")
    p.add_argument("--dt", type=float, default=None, help="time step (ms), default 0.1")
    p.add_argument("--threshold", type=float, default=15., help="decision threshold (Hz)")
    p.add_argument("--budget-s", type=float, default=None,
                   help="start no new chunk after this many seconds")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = dict(PRESETS[args.preset])
    for k in ("scale", "trials", "coherences", "chunk"):
        if getattr(args, k) is not None:
            cfg[k] = getattr(args, k)
    log = sys.stderr if args.json else sys.stdout
    t_start = time.perf_counter()
    dt = args.dt or cfg.get("dt", 0.1)
    brainsim.environ.set(dt=dt * u.ms)
    brainsim.random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    coh = np.asarray(cfg["coherences"], np.float64)
    n_lanes = len(coh) * cfg["trials"]
    lane_coh = np.tile(coh, cfg["trials"])          # trial-major: every chunk has every c
    n_dev = len(jax.devices())
    mesh = sharding.make_mesh(n_dev) if n_dev > 1 else None
    chunk = cfg["chunk"] or n_lanes
    chunk = -(-chunk // n_dev) * n_dev              # a multiple of the device count
    net = DecisionNet(cfg["scale"])
    bin_steps = int(round(1. / dt))
    print(f"{args.preset}: {net.n_e} E ({net.n_a} A, {net.n_b} B, {net.n_n} N) + {net.n_i} I, "
          f"{len(coh)} coherences x {cfg['trials']} trials = {n_lanes} lanes, {chunk} per call "
          f"on {n_dev} {jax.default_backend()} device(s); {cfg['pre']:g} + {cfg['stim']:g} + "
          f"{cfg['delay']:g} ms at dt = {dt} ms", file=log, flush=True)
    stim = np.stack([stimulus(c, cfg, rng, dt) for c in lane_coh])     # (lanes, 2, T)
    run = make_runner(net, bin_steps, mesh)
    counts, done, sim_s, compile_s = [], 0, 0., None
    while done < n_lanes:
        if args.budget_s is not None and done and time.perf_counter() - t_start > args.budget_s:
            print(f"budget of {args.budget_s:g} s spent: stopped after {done} lanes",
                  file=log, flush=True)
            break
        part = stim[done:done + chunk]
        k = part.shape[0]
        if k < chunk:                                # pad the last call to the chunk size
            part = np.concatenate([part, np.repeat(part[-1:], chunk - k, 0)])
        brainsim.init_states(net, chunk)
        t0 = time.perf_counter()
        out = np.asarray(run(jnp.asarray(part[:, 0]), jnp.asarray(part[:, 1])))[:k]
        el = time.perf_counter() - t0
        if compile_s is None:
            compile_s = el
        sim_s += el
        counts.append(out)
        done += k
        print(f"  {done}/{n_lanes} lanes, {el:.1f} s", file=log, flush=True)
    counts = np.concatenate(counts)                  # (lanes, ms, 2)
    lane_coh = lane_coh[:done]
    choice, rt = decide(counts, net.n_a, cfg, args.threshold)
    p_a, n_tr, rt_mean, rt_sd, undecided = [], [], [], [], []
    for c in coh:
        m = lane_coh == c
        p_a.append(float(choice[m].mean()) if m.any() else float("nan"))
        n_tr.append(int(m.sum()))
        r = rt[m][np.isfinite(rt[m])]
        rt_mean.append(float(r.mean()) if r.size else float("nan"))
        rt_sd.append(float(r.std()) if r.size else float("nan"))
        undecided.append(int(m.sum() - r.size))
    p_a, rt_mean, rt_sd = np.asarray(p_a), np.asarray(rt_mean), np.asarray(rt_sd)
    print(f"{'coherence %':>12} {'trials':>7} {'P(A)':>6} {'mean RT ms':>11} {'no crossing':>12}",
          file=log)
    for row in zip(coh, n_tr, p_a, rt_mean, undecided):
        print(f"{row[0]:>12.1f} {row[1]:>7d} {row[2]:>6.3f} {row[3]:>11.1f} {row[4]:>12d}",
              file=log)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    png = str(out_dir / f"decision_making_{args.preset}.png")
    ex = int(np.argmax(lane_coh))                    # a trial at the largest coherence
    plot(png, coh, p_a, np.asarray(n_tr), rt_mean, rt_sd, (counts[ex], net.n_a, lane_coh[ex]),
         cfg, f"Wang (2002) decision network, {net.n_e + net.n_i} neurons (scale "
              f"{cfg['scale']:g}), {done} trials run in parallel ({args.preset})")
    res = dict(experiment="decision_making", preset=args.preset, scale=cfg["scale"],
               neurons=net.n_e + net.n_i, coherence=coh.tolist(), p_choose_a=p_a.tolist(),
               trials=n_tr, mean_rt_ms=[None if not np.isfinite(v) else round(v, 1)
                                        for v in rt_mean],
               no_crossing=undecided, lanes_run=done, lanes_asked=n_lanes, chunk=chunk,
               devices=n_dev, dt_ms=dt, periods_ms=[cfg["pre"], cfg["stim"], cfg["delay"]],
               threshold_hz=args.threshold, first_call_s=round(compile_s, 1),
               sim_s=round(sim_s, 1), png=png,
               machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}",
               total_s=round(time.perf_counter() - t_start, 1))
    if args.json:
        print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
