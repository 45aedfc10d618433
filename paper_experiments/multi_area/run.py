"""Multi-area macaque model: signal propagation, synapse merging and compile time (paper appendix).

    python paper_experiments/multi_area/run.py --quick|--full [--json] [--out DIR]

A pulse into V1 travels up the 29-area hierarchy of Joglekar et al. (2018). Reports each area's
peak-response latency and its Spearman rank correlation with the hierarchy; runs the model with
synapse merging (one synapse state per population and receptor) and without (one per
projection), with their state counts, memory and time; and times the compilation against Brian2
(``BRIAN2_PYTHON``, same model and parameters, run as a subprocess; skipped when unset).
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import brainsim  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor  # noqa: E402
from ma_model import MultiArea, load_data, rank_corr, state_bytes, synapse_states  # noqa: E402

PRESETS = {
    # n_e, n_i per area; total ms; pulse onset and length (ms); the Brian2 comparison's duration
    "smoke": dict(n_e=80, n_i=20, areas=6, duration=50., onset=10., pulse=20., brian2=False),
    "quick": dict(n_e=400, n_i=100, areas=29, duration=300., onset=100., pulse=50., brian2=True),
    "full": dict(n_e=1600, n_i=400, areas=29, duration=650., onset=300., pulse=150., brian2=True),
}
PULSE_MV = 15.
CHUNK_MS = 25.   # the run goes in chunks of this length (one compilation)


def build(data, cfg, merge, seed, shared_delays=True):
    brainsim.random.seed(seed)
    net = MultiArea(data, cfg["n_e"], cfg["n_i"], merge=merge, seed=seed, n_areas=cfg["areas"],
                    shared_delays=shared_delays)
    return brainsim.init_states(net)


def delay_buffers(net) -> int:
    """The spike buffers of the delays: one per spike history, or one per delayed projection."""
    return len(net.history) + sum(p.delay is not None for p in net.local + net.inter)


def simulate(data, cfg, merge, seed, dt=0.1, shared_delays=True):
    """Build and run once; returns the spikes per area, timings and state sizes."""
    brainsim.environ.set(dt=dt * u.ms)
    t0 = time.perf_counter()
    net = build(data, cfg, merge, seed, shared_delays)
    t_build = time.perf_counter() - t0
    on, off = cfg["onset"], cfg["onset"] + cfg["pulse"]

    def pulse(t):
        tm = t.to_decimal(u.ms)
        return jnp.where((tm >= on) & (tm < off), PULSE_MV, 0.) * u.mV

    runner = Runner(net, monitors={f"E{a}": SpikeMonitor(net.E[a]) for a in range(net.k)},
                    inputs=pulse, progress=False)
    # the run goes in equal chunks, compiled once: compile time = first chunk - second chunk
    chunk = CHUNK_MS if cfg["duration"] > CHUNK_MS else cfg["duration"] / 2
    n_chunks = int(round(cfg["duration"] / chunk))
    times, spikes = [], [[] for _ in range(net.k)]
    t_all = time.perf_counter()
    for c in range(n_chunks):
        t0 = time.perf_counter()
        res = runner.run(chunk * u.ms)
        for a in range(net.k):
            s = res[f"E{a}"]
            spikes[a].append(np.stack([np.asarray(s.t.to_decimal(u.ms)), np.asarray(s.i)], 1))
        times.append(time.perf_counter() - t0)
    t_run = time.perf_counter() - t_all
    spikes = [np.concatenate(x) for x in spikes]
    compile_s = times[0] - (times[1] if len(times) > 1 else 0.)
    syn = synapse_states(net)
    return dict(net=net, spikes=spikes, build_s=t_build, compile_s=compile_s,
                run_s=t_run, run_net_s=t_run - compile_s, syn_states=syn["count"], syn_bytes=syn["bytes"],
                state_bytes=state_bytes(net), n_proj=len(net.local) + len(net.inter),
                delay_buffers=delay_buffers(net))


def rates(spikes, n, duration, bin_ms=5., dt=0.1):
    """(areas, bins) population rates in Hz, and the bin centres in ms."""
    nb = int(round(duration / bin_ms))
    out = np.zeros((len(spikes), nb))
    for a, s in enumerate(spikes):
        t = s[:, 0]
        h, _ = np.histogram(t, bins=nb, range=(0., duration))
        out[a] = h / (n * bin_ms * 1e-3)
    return out, (np.arange(nb) + 0.5) * bin_ms


def latencies(r, centres, onset):
    """Per area: the time of the peak rate after the onset, minus the onset (ms)."""
    after = centres >= onset
    smooth = np.apply_along_axis(lambda x: np.convolve(x, np.ones(3) / 3, "same"), 1, r)
    peak = np.argmax(smooth[:, after], axis=1)
    return centres[after][peak] - onset


def onset_latencies(r, centres, onset, k_sd=5., min_rise_hz=5.):
    """Per area: the first time after the onset at which the smoothed rate exceeds its baseline
    by ``k_sd`` standard deviations and ``min_rise_hz``, minus the onset (ms; NaN if never).

    The peak time of a long pulse's response falls anywhere in its plateau; the time the
    response starts is what travels along the hierarchy.
    """
    before, after = centres < onset, centres >= onset
    smooth = np.apply_along_axis(lambda x: np.convolve(x, np.ones(3) / 3, "same"), 1, r)
    base, sd = smooth[:, before].mean(1), smooth[:, before].std(1)
    over = smooth[:, after] > (base + np.maximum(k_sd * sd, min_rise_hz))[:, None]
    first = np.where(over.any(1), over.argmax(1), -1)
    return np.where(first >= 0, centres[after][np.maximum(first, 0)] - onset, np.nan)


def raster_key(spikes, dt=0.1):
    """Per area: the (step, neuron) pairs of the spikes."""
    return [np.stack([np.round(s[:, 0] / dt), s[:, 1]], 1).astype(np.int64) for s in spikes]


BRIAN2_SCRIPT = r'''
import json, sys, time, tempfile
import numpy as np
cfg = json.loads(sys.argv[1])
import brian2 as b2
from brian2 import ms, mV
b2.prefs.codegen.target = cfg["target"]
b2.prefs.codegen.runtime.cython.cache_dir = tempfile.mkdtemp()   # a cold cache: real compilation
b2.defaultclock.dt = cfg["dt"] * ms
d = np.load(cfg["npz"])
eqs = """dv/dt = (-(v - V_rest) + ge + gi + ext + pulse(t) * is_v1 + sigma * sqrt(2 * tau) * xi) / tau : volt (unless refractory)
dge/dt = -ge / tau_e : volt
dgi/dt = -gi / tau_i : volt
tau : second (constant)
ext : volt (constant)
is_v1 : 1 (constant)
"""
ns = dict(V_rest=-70 * mV, tau_e=cfg["tau_e"] * ms, tau_i=cfg["tau_i"] * ms, sigma=cfg["sigma"] * mV,
          pulse=b2.TimedArray(d["pulse"] * mV, dt=cfg["dt"] * ms))
t0 = time.perf_counter()
G = b2.NeuronGroup(len(d["tau"]), eqs, threshold="v > -50*mV", reset="v = -60*mV",
                   refractory=2 * ms, method="euler", namespace=ns)
G.tau = d["tau"] * ms
G.ext = d["ext"] * mV
G.is_v1 = d["is_v1"]
G.v = "-70*mV + rand() * 20*mV"
syns = []
for rec in ("e", "i"):
    S = b2.Synapses(G, G, "w : volt", on_pre="g%s_post += w" % rec, namespace=ns)
    S.connect(i=d["pre_" + rec].astype(np.int32), j=d["post_" + rec].astype(np.int32))
    S.w = d["w_" + rec] * mV
    S.delay = d["d_" + rec] * ms
    syns.append(S)
mon = b2.SpikeMonitor(G)
net = b2.Network(G, mon, *syns)
net.run(cfg["dt"] * ms)
t1 = time.perf_counter()
net.run(cfg["dt"] * ms)
t2 = time.perf_counter()
out = dict(build_and_first_s=t1 - t0, second_s=t2 - t1, compile_s=(t1 - t0) - (t2 - t1),
           synapses=int(sum(len(s) for s in syns)))
if cfg.get("run_ms"):
    t3 = time.perf_counter()
    net.run(cfg["run_ms"] * ms)
    out["run_s"] = time.perf_counter() - t3
    out["spikes"] = int(mon.num_spikes)
print(json.dumps(out))
'''


def brian2_compile(net, cfg, tmp, dt=0.1):
    """Brian2 (cython) build + first-step time minus a second step, on the same connectivity."""
    py = os.environ.get("BRIAN2_PYTHON")
    if not py:
        return None, "BRIAN2_PYTHON not set: Brian2 skipped"
    k, ne, ni = net.k, net.n_e, net.n_i
    off_e = lambda a: a * (ne + ni)            # noqa: E731  area a: E then I
    off_i = lambda a: a * (ne + ni) + ne       # noqa: E731
    pre = {"e": [], "i": []}
    post = {"e": [], "i": []}
    w = {"e": [], "i": []}
    dl = {"e": [], "i": []}
    index = {id(p): (a, "E") for a, p in enumerate(net.E)}
    index.update({id(p): (a, "I") for a, p in enumerate(net.I)})
    pairs = [None] * len(net.local) + net.inter_pairs
    for pr, pair in zip(net.local + net.inter, pairs):
        W = pr.comm
        ip = np.asarray(W.indptr)
        rows = np.repeat(np.arange(W.shape[0]), np.diff(ip))
        cols = np.asarray(W.indices)
        wt = np.asarray(u.get_mantissa(W.data), np.float64) * np.ones(len(cols))
        # an inter-areal projection reads E(pre area), through its spike history or a delay
        a_pre, k_pre = (pair[1], "E") if pair else index[id(pr.pre)]
        a_post, k_post = index[id(pr.post)]
        rec = "e" if k_pre == "E" else "i"
        pre[rec].append(rows + (off_e(a_pre) if k_pre == "E" else off_i(a_pre)))
        post[rec].append(cols + (off_e(a_post) if k_post == "E" else off_i(a_post)))
        w[rec].append(wt * 1.0)
        d = 0. if pair is None else net.delays_ms[pair]
        dl[rec].append(np.full(len(cols), d))
    n = k * (ne + ni)
    tau = np.zeros(n)
    ext = np.zeros(n)
    is_v1 = np.zeros(n)
    for a in range(k):
        tau[off_e(a):off_e(a) + ne], tau[off_i(a):off_i(a) + ni] = 20., 10.
        ext[off_e(a):off_e(a) + ne], ext[off_i(a):off_i(a) + ni] = net.P["extE"], net.P["extI"]
    is_v1[:ne] = 1.
    steps = int(round(cfg["duration"] / dt))
    t = np.arange(steps) * dt
    pulse = np.where((t >= cfg["onset"]) & (t < cfg["onset"] + cfg["pulse"]), PULSE_MV, 0.)
    npz = Path(tmp) / "ma_brian2.npz"
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)   # noqa: E731
    np.savez(npz, k=k, n_e=ne, n_i=ni, tau=tau, ext=ext, is_v1=is_v1, pulse=pulse,
             **{f"{v}_{r}": cat(dd[r]) for v, dd in (("pre", pre), ("post", post), ("w", w),
                                                     ("d", dl)) for r in ("e", "i")})
    script = Path(tmp) / "ma_brian2.py"
    script.write_text(BRIAN2_SCRIPT)
    arg = json.dumps(dict(npz=str(npz), dt=dt, target="cython", run_ms=0, tau_e=net.P["tau_e"], tau_i=net.P["tau_i"],
                          sigma=net.P["sigma"]))
    p = subprocess.run([py, str(script), arg], capture_output=True, text=True, timeout=1200)
    if p.returncode:
        return None, f"Brian2 failed: {p.stderr.strip().splitlines()[-1:]}"
    return json.loads(p.stdout.strip().splitlines()[-1]), "brian2 cython"


def plot(lat, hier, names, r, centres, onset, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(hier, lat, "o")
    for x, y, nm in zip(hier, lat, names):
        a1.annotate(nm, (x, y), fontsize=6)
    a1.set_xlabel("hierarchy")
    a1.set_ylabel("peak-response latency (ms)")
    a1.grid(alpha=0.3)
    im = a2.imshow(r, aspect="auto", origin="lower", cmap="viridis",
                   extent=(0, centres[-1] + centres[0], -0.5, len(r) - 0.5))
    a2.axvline(onset, color="w", lw=0.8)
    a2.set_yticks(range(len(names)), names, fontsize=5)
    a2.set_xlabel("time (ms)")
    fig.colorbar(im, ax=a2, label="E rate (Hz)")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    for name in ("quick", "full"):
        g.add_argument(f"--{name}", dest="preset", action="store_const", const=name)
    g.add_argument("--smoke", dest="preset", action="store_const", const="smoke",
                   help=argparse.SUPPRESS)
    p.set_defaults(preset="quick")
    p.add_argument("--n-e", type=int, default=None, help="E neurons per area (overrides the preset)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-brian2", action="store_true", help="skip the Brian2 comparison")
    p.add_argument("--delays", choices=("shared", "per-projection"), default="shared",
                   help="one spike history per E population read at each projection's delay "
                        "(default), or a ring buffer per delayed projection")
    p.add_argument("--out", default=str(HERE), help="folder for the PNG")
    p.add_argument("--json", action="store_true", help="print one JSON line last")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    cfg = dict(PRESETS[args.preset])
    if args.n_e:
        cfg["n_e"], cfg["n_i"] = args.n_e, args.n_e // 4
    log = sys.stderr if args.json else sys.stdout
    data = load_data()
    k = cfg["areas"]
    names = data["areas"][:k]
    hier = data["hier"][:k]
    t_start = time.perf_counter()
    runs = {}
    for merge in (True, False):
        r = simulate(data, cfg, merge, args.seed, shared_delays=args.delays == "shared")
        runs[merge] = r
        print(f"{'merged' if merge else 'unmerged':9s}: {r['n_proj']} projections, "
              f"{r['syn_states']} synapse states ({r['syn_bytes'] / 2**20:.2f} MiB), "
              f"{r['delay_buffers']} delay buffers ({args.delays}; all states "
              f"{r['state_bytes'] / 2**20:.1f} MiB), build {r['build_s']:.1f} s, compile "
              f"{r['compile_s']:.1f} s, run {r['run_s']:.1f} s", file=log, flush=True)
    m, um = runs[True], runs[False]
    same = all(np.array_equal(a, b) for a, b in zip(raster_key(m["spikes"]), raster_key(um["spikes"])))
    n_sp = [len(s) for s in m["spikes"]]
    r, centres = rates(m["spikes"], cfg["n_e"], cfg["duration"])
    lat = latencies(r, centres, cfg["onset"])
    rho = rank_corr(lat[1:], hier[1:])         # V1 (the stimulated area) excluded
    onset_lat = onset_latencies(r, centres, cfg["onset"])
    resp = np.isfinite(onset_lat[1:])           # the areas whose rate rose at all
    rho_onset = rank_corr(onset_lat[1:][resp], hier[1:][resp]) if resp.sum() > 2 else float("nan")
    base = r[:, centres < cfg["onset"]].mean(axis=1)
    peak = r[:, centres >= cfg["onset"]].max(axis=1)
    print(f"{'area':6s} {'hier':>5s} {'base Hz':>8s} {'peak Hz':>8s} {'latency ms':>10s} "
          f"{'onset ms':>9s}", file=log)
    for a in range(k):
        print(f"{names[a]:6s} {hier[a]:5.2f} {base[a]:8.2f} {peak[a]:8.2f} {lat[a]:10.1f} "
              f"{onset_lat[a]:9.1f}", file=log)
    print(f"Spearman(onset latency, hierarchy) over the {int(resp.sum())} other areas whose "
          f"rate rose: {rho_onset:.3f}", file=log)
    print(f"Spearman(latency, hierarchy) over areas 2..{k}: {rho:.3f}; merged and unmerged "
          f"spikes identical: {same}", file=log)
    b2, b2_note = None, None
    if args.no_brian2 or not cfg["brian2"]:
        b2_note = "Brian2 skipped (--no-brian2, or the smoke preset)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            b2, b2_note = brian2_compile(m["net"], cfg, tmp)
    if b2 is None:
        print(b2_note, file=log)
    else:
        print(f"compile: brainsim {m['compile_s']:.1f} s (merged), {um['compile_s']:.1f} s "
              f"(unmerged); Brian2 cython {b2['compile_s']:.1f} s ({b2['synapses']} synapses)",
              file=log)
    png = None
    if args.preset != "smoke":
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        png = str(out / f"multi_area_{args.preset}.png")
        plot(lat, hier, names, r, centres, cfg["onset"], png,
             f"29-area model, {cfg['n_e']} E + {cfg['n_i']} I per area; pulse into V1 at "
             f"{cfg['onset']:.0f} ms; Spearman {rho:.2f}")
    summary = dict(
        experiment="multi_area", preset=args.preset, areas=k, n_e=cfg["n_e"], n_i=cfg["n_i"],
        duration_ms=cfg["duration"], projections=m["n_proj"], delays=args.delays,
        delay_buffers=m["delay_buffers"],
        merged_states=m["syn_states"], unmerged_states=um["syn_states"],
        merged_syn_mib=round(m["syn_bytes"] / 2**20, 3), unmerged_syn_mib=round(um["syn_bytes"] / 2**20, 3),
        merged_state_mib=round(m["state_bytes"] / 2**20, 2),
        unmerged_state_mib=round(um["state_bytes"] / 2**20, 2),
        merged_run_s=round(m["run_s"], 2), unmerged_run_s=round(um["run_s"], 2),
        merged_compile_s=round(m["compile_s"], 2), unmerged_compile_s=round(um["compile_s"], 2),
        same_spikes=bool(same), spikes_per_area=n_sp,
        hierarchy_latency_spearman=round(rho, 4) if np.isfinite(rho) else None,
        latency_ms=[round(float(x), 1) for x in lat],
        onset_latency_ms=[None if not np.isfinite(x) else round(float(x), 1) for x in onset_lat],
        hierarchy_onset_latency_spearman=round(rho_onset, 4) if np.isfinite(rho_onset) else None,
        responding_areas=int(resp.sum()) + 1,
        brainsim_compile_s=round(m["compile_s"], 2),
        brian2_compile_s=None if b2 is None else round(b2["compile_s"], 2), brian2_note=b2_note,
        png=png, machine=f"{platform.machine()} {os.cpu_count()} cpu, {jax.default_backend()}",
        peak_rss_mib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        total_s=round(time.perf_counter() - t_start, 1))
    if args.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
