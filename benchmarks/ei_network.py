"""EI-network benchmark: COBA-LIF and COBAHH in brainsim, the C++ floor, a numba loop and Brian2.

    python benchmarks/ei_network.py --model coba|cobahh --scale S --duration MS [--json]
        [--brian2-python /work/venv-brian2/bin/python] [--no-numba] [--no-cpp]
    python benchmarks/ei_network.py --model coba --recording-cost [--repeats 11] [--json]
    python benchmarks/ei_network.py --model coba --floor-repeats 9 [--scale S] [--json]

Reports build time, compile time (first call minus second call), wall time of the second run per
simulated second and the mean rate. For COBA the hand-written C++ loop
``../shared/anchors/cpp_coba.cc`` (relative to the repository root) is built with g++ and run in
the same invocation (row ``cpp_floor``, skipped with a note when g++ or the file is absent).
Spikes are recorded as a user would (``SpikeMonitor``). Spike-propagation formulations inside
``lax.scan`` are timed by ``benchmarks/propagation_designs.py``.
``--recording-cost`` instead times the same network and run with and without a ``SpikeMonitor``,
repeats interleaved, and reports the median ratio of wall time and of process CPU time (the CPU
time is the steadier figure on a machine shared with other work).
``--floor-repeats K`` instead runs brainsim (spikes recorded) and the C++ floor K times each,
interleaved, after one compiling run, and reports the medians and the median of the K paired
ratios: on a shared machine a single pair of runs can be off by 2x either way.
``--threads N`` runs brainsim's programs on N threads (``brainsim.environ.set_cpu_threads``); the
C++ floor and Brian2 cython run on one. ``--vector-width BITS`` compiles them for that SIMD width
(``brainsim.environ.set_cpu_vector_width``; brainsim's default: 512 on CPUs with AVX-512).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- brainsim
def bench_brainsim(model, scale, duration_ms, seed=0, progress=False, backend="auto"):
    import brainunit as u
    import jax
    import brainsim
    brainsim.event.set_backend(backend)
    from brainsim.runner import Runner, SpikeMonitor
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    t0 = time.perf_counter()
    if model == "coba":
        net = brainsim.init_states(_load("ei_coba_lif").EINet(scale, seed))
    else:
        net = brainsim.init_states(_load("ei_coba_hh").HHNet(scale, seed))
    jax.block_until_ready(net.neu.V.value)
    build = time.perf_counter() - t0
    runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=progress)
    t0 = time.perf_counter()
    runner.run(duration_ms * u.ms)
    first = time.perf_counter() - t0
    # the second call continues the simulation (a reset would create new states, which
    # brainsim.jit treats as a new model and compiles again)
    t0 = time.perf_counter()
    rec = runner.run(duration_ms * u.ms)["spikes"]
    second = time.perf_counter() - t0
    rate = float(rec.mean_rate().to_decimal(u.Hz))
    return dict(build_s=build, compile_s=max(first - second, 0.), wall_s=second / (duration_ms / 1e3),
                rate_hz=rate)


def bench_recording_cost(model, scale, duration_ms, repeats=11, seed=0):
    """Seconds per simulated second with and without a SpikeMonitor, same network, interleaved."""
    import brainunit as u
    import jax
    import brainsim
    from brainsim.runner import Runner, SpikeMonitor
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    net = brainsim.init_states(_load("ei_coba_lif").EINet(scale, seed) if model == "coba"
                               else _load("ei_coba_hh").HHNet(scale, seed))
    runners = {"with": Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False),
               "without": Runner(net, progress=False)}
    for r in runners.values():            # compile, and reach the steady state
        r.run(duration_ms * u.ms)
    wall = {k: [] for k in runners}
    cpu = {k: [] for k in runners}
    for _ in range(repeats):
        for k, r in runners.items():
            t0, c0 = time.perf_counter(), time.process_time()
            r.run(duration_ms * u.ms)
            jax.block_until_ready(net.neu.V.value)
            wall[k].append((time.perf_counter() - t0) / (duration_ms / 1e3))
            cpu[k].append((time.process_time() - c0) / (duration_ms / 1e3))
    ratio = lambda d: float(np.median(np.divide(d["with"], d["without"])))  # noqa: E731
    return dict(repeats=repeats, wall_with_s=float(np.median(wall["with"])),
                wall_without_s=float(np.median(wall["without"])), wall_ratio=ratio(wall),
                cpu_with_s=float(np.median(cpu["with"])),
                cpu_without_s=float(np.median(cpu["without"])), cpu_ratio=ratio(cpu))


# --------------------------------------------------------------------------- numba
def bench_numba(scale, duration_ms, seed=0):
    """The COBA network as one single-threaded numba loop over the same connectivity."""
    import numba
    import brainsim.event as ev

    ne, ni = int(3200 * scale), int(800 * scale)
    n = ne + ni
    t0 = time.perf_counter()
    We = ev.random_conn(ne, n, prob=0.02, seed=seed)
    Wi = ev.random_conn(ni, n, prob=0.02, seed=seed + 1)
    ind = np.concatenate([np.asarray(We.indices), np.asarray(Wi.indices)]).astype(np.int32)
    ptr = np.concatenate([np.asarray(We.indptr), np.asarray(Wi.indptr)[1:] + We.indices.shape[0]])
    ptr = ptr.astype(np.int64)
    rng = np.random.default_rng(seed)
    V0 = (-55. + 2. * rng.standard_normal(n)).astype(np.float32)
    build = time.perf_counter() - t0

    @numba.njit(cache=False, fastmath=True)
    def sim(V, ind, ptr, ne, steps, we, wi):
        n = V.shape[0]
        ge = np.zeros(n, np.float32)
        gi = np.zeros(n, np.float32)
        ref = np.zeros(n, np.int32)
        spk = np.empty(n, np.int32)
        nspk = 0
        total = 0
        late = 0
        dt, gl, C, El, Ee, Ei, I = 0.1, 10., 200., -60., 0., -80., 200.
        de, di = np.float32(np.exp(-dt / 5.)), np.float32(np.exp(-dt / 10.))
        rec_t = np.empty(steps * n // 20 + 1000, np.int32)   # spikes are recorded
        rec_i = np.empty(steps * n // 20 + 1000, np.int32)
        for step in range(steps):
            for k in range(nspk):                       # propagate last step's spikes
                i = spk[k]
                w = we if i < ne else wi
                g = ge if i < ne else gi
                for s in range(ptr[i], ptr[i + 1]):
                    g[ind[s]] += w
            nspk = 0
            for j in range(n):
                ge[j] *= de
                gi[j] *= di
            for j in range(n):
                if ref[j] > 0:
                    ref[j] -= 1
                    V[j] = El
                    continue
                gt = gl + ge[j] + gi[j]
                vinf = (gl * El + ge[j] * Ee + gi[j] * Ei + I) / gt
                v = vinf + (V[j] - vinf) * np.exp(-dt * gt / C)
                if v > -50.:
                    v = El
                    ref[j] = 50
                    spk[nspk] = j
                    nspk += 1
                    if total < rec_t.shape[0]:
                        rec_t[total] = step
                        rec_i[total] = j
                    total += 1
                    if step * 2 >= steps:
                        late += 1
                V[j] = v
        return total, late

    steps = int(round(duration_ms / 0.1))
    we, wi = np.float32(6. / scale), np.float32(67. / scale)
    t0 = time.perf_counter()
    sim(V0.copy(), ind, ptr, ne, steps, we, wi)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, late = sim(V0.copy(), ind, ptr, ne, steps, we, wi)
    second = time.perf_counter() - t0
    return dict(build_s=build, compile_s=max(first - second, 0.), wall_s=second / (duration_ms / 1e3),
                rate_hz=late / n / (duration_ms / 2e3))


# --------------------------------------------------------------------------- C++ floor
def bench_floor_ratio(scale, duration_ms, repeats=9, seed=0):
    """brainsim (spikes recorded) and the C++ floor, ``repeats`` times each, interleaved.

    Returns None when the floor cannot be built or run, else the medians of both (seconds per
    simulated second), the median of the paired ratios and the rates of the last runs.
    """
    import brainunit as u
    import jax
    import brainsim
    from brainsim.runner import Runner, SpikeMonitor
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    net = brainsim.init_states(_load("ei_coba_lif").EINet(scale, seed))
    runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
    runner.run(duration_ms * u.ms)                     # compile, and reach the steady state
    ours, floor, rate = [], [], 0.
    for _ in range(repeats):
        t0 = time.perf_counter()
        rec = runner.run(duration_ms * u.ms)["spikes"]
        jax.block_until_ready(net.neu.V.value)
        ours.append((time.perf_counter() - t0) / (duration_ms / 1e3))
        rate = float(rec.mean_rate().to_decimal(u.Hz))
        c = bench_cpp_floor(scale, duration_ms)
        if c is None or "error" in c:
            return c
        floor.append(c["wall_s"])
    return dict(repeats=repeats, wall_s=float(np.median(ours)), cpp_wall_s=float(np.median(floor)),
                ratio=float(np.median(np.divide(ours, floor))), rate_hz=rate,
                cpp_rate_hz=c["rate_hz"], ratio_min=float(np.min(np.divide(ours, floor))),
                ratio_max=float(np.max(np.divide(ours, floor))))


def _find_cpp_floor() -> Path:
    """``$BRAINSIM_CPP_FLOOR``, else ``../shared/anchors/cpp_coba.cc`` from the repository root
    (or from one level up, for a git worktree kept in a sibling folder)."""
    if os.environ.get("BRAINSIM_CPP_FLOOR"):
        return Path(os.environ["BRAINSIM_CPP_FLOOR"])
    candidates = [ROOT.parent / "shared" / "anchors" / "cpp_coba.cc",
                  ROOT.parent.parent / "shared" / "anchors" / "cpp_coba.cc"]
    return next((c for c in candidates if c.exists()), candidates[0])


CPP_FLOOR = _find_cpp_floor()


def bench_cpp_floor(scale, duration_ms, source=CPP_FLOOR):
    """The hand-written C++ COBA loop (``shared/anchors/cpp_coba.cc``), built with g++ and run.

    Returns None when g++ or the source is absent (the caller says so), or a dict with an
    ``error`` key when the build or the run fails. The binary is cached next to a hash of the
    source so repeated benchmarks do not rebuild it.
    """
    import hashlib
    import shutil
    import tempfile
    gxx = shutil.which("g++")
    source = Path(source)
    if gxx is None or not source.exists():
        return None
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    cache = Path(os.environ.get("BRAINSIM_CACHE", Path(tempfile.gettempdir()) / "brainsim_bench"))
    cache.mkdir(parents=True, exist_ok=True)
    exe = cache / f"cpp_coba_{digest}"
    try:
        t0 = time.perf_counter()
        if not exe.exists():
            # same flags as the anchor's README: -ffast-math/-march=native vectorise the exp
            subprocess.run([gxx, "-O3", "-ffast-math", "-march=native", "-fopenmp-simd",
                            "-o", str(exe), str(source)], check=True, capture_output=True, timeout=300)
        build = time.perf_counter() - t0
        out = subprocess.run([str(exe), str(scale), str(duration_ms / 1e3)], check=True,
                             capture_output=True, text=True, timeout=1800).stdout
        fields = dict(kv.split("=", 1) for kv in out.split() if "=" in kv)
        return dict(build_s=build, compile_s=0., wall_s=float(fields["per_sim_s"]),
                    rate_hz=float(fields["rate"].rstrip("Hz")))
    except Exception as e:  # noqa: BLE001 - report, do not crash the benchmark
        return {"error": f"{type(e).__name__}: {e}"}


# --------------------------------------------------------------------------- brian2
_BRIAN2 = r"""
import json, sys, time
from brian2 import *
prefs.codegen.target = 'cython'
model, scale, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]) * ms
defaultclock.dt = 0.1 * ms
seed(0)
t0 = time.perf_counter()
ne, ni = int(3200 * scale), int(800 * scale)
if model == 'coba':
    eqs = '''dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v) + I)/C : volt (unless refractory)
             dge/dt = -ge/(5*ms) : siemens
             dgi/dt = -gi/(10*ms) : siemens'''
    P = NeuronGroup(ne + ni, eqs, threshold='v > -50*mV', reset='v = -60*mV', refractory=5*ms,
                    method='exponential_euler',
                    namespace=dict(gl=10*nS, El=-60*mV, Ee=0*mV, Ei=-80*mV, C=200*pF, I=200*pA))
    P.v = '-55*mV + 2*mV*randn()'
else:
    area = 20000 * umetre ** 2
    eqs = '''dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = 0.32*(mV**-1)*4*mV/exprel((13.*mV-v+VT)/(4*mV))/ms*(1-m)-0.28*(mV**-1)*5*mV/exprel((v-VT-40.*mV)/(5*mV))/ms*m : 1
    dn/dt = 0.032*(mV**-1)*5*mV/exprel((15.*mV-v+VT)/(5*mV))/ms*(1.-n)-.5*exp((10.*mV-v+VT)/(40.*mV))/ms*n : 1
    dh/dt = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms*(1.-h)-4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms*h : 1
    dge/dt = -ge/(5.*ms) : siemens
    dgi/dt = -gi/(10.*ms) : siemens'''
    P = NeuronGroup(ne + ni, eqs, threshold='v > -20*mV', refractory='v > -20*mV',
                    method='exponential_euler',
                    namespace=dict(Cm=200*pF, gl=10*nS, El=-60*mV, EK=-90*mV, ENa=50*mV,
                                   g_na=20*usiemens, g_kd=6*usiemens, VT=-63*mV, Ee=0*mV, Ei=-80*mV))
    P.v = 'El + (randn() * 5 - 5)*mV'
    P.ge = '(randn() * 1.5 + 4) * 10.*nS'
    P.gi = '(randn() * 12 + 20) * 10.*nS'
Ce = Synapses(P[:ne], P, on_pre='ge += %g*nS' % (6. / scale))
Ci = Synapses(P[ne:], P, on_pre='gi += %g*nS' % (67. / scale))
Ce.connect(p=0.02)
Ci.connect(p=0.02)
M = SpikeMonitor(P)
net = Network(P, Ce, Ci, M)
build = time.perf_counter() - t0
t0 = time.perf_counter(); net.run(duration); first = time.perf_counter() - t0
n0 = M.num_spikes
t0 = time.perf_counter(); net.run(duration); second = time.perf_counter() - t0
rate = (M.num_spikes - n0) / (ne + ni) / float(duration)
print(json.dumps(dict(build_s=build, compile_s=(first - second) if first > second else 0., wall_s=second / float(duration),
                      rate_hz=rate)))
"""


def bench_brian2(python, model, scale, duration_ms):
    if not python or not os.path.exists(python):
        return None
    try:
        out = subprocess.run([python, "-c", _BRIAN2, model, str(scale), str(duration_ms)],
                             capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:     # say why (the last line of its traceback), not a parse error
            return {"error": f"Brian2 failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}"}
        return json.loads(out.stdout.strip().splitlines()[-1])
    except Exception as e:  # noqa: BLE001 - report, do not crash the benchmark
        return {"error": f"{type(e).__name__}: {e}"}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=["coba", "cobahh"], default="coba")
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="simulated ms")
    p.add_argument("--json", action="store_true")
    p.add_argument("--progress", action="store_true", help="show the progress bar while timing")
    p.add_argument("--brian2-python", default=os.environ.get("BRIAN2_PYTHON", "/work/venv-brian2/bin/python"))
    p.add_argument("--no-numba", action="store_true")
    p.add_argument("--no-brian2", action="store_true")
    p.add_argument("--no-cpp", action="store_true", help="skip the hand-written C++ floor")
    p.add_argument("--compare-backends", action="store_true",
                   help="also run brainsim with the pure-JAX event products (row brainsim_jax)")
    p.add_argument("--recording-cost", action="store_true",
                   help="only time the run with and without the SpikeMonitor")
    p.add_argument("--repeats", type=int, default=11, help="repeats for --recording-cost")
    p.add_argument("--floor-repeats", type=int, default=0,
                   help="only time COBA against the C++ floor, this many interleaved pairs")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each XLA program (brainsim.environ.set_cpu_threads; 1 is "
                        "like the single-threaded C++ floor and Brian2); 0: XLA's default, "
                        "the cores available")
    p.add_argument("--vector-width", type=int, default=0, choices=[0, 128, 256, 512],
                   help="SIMD bits of brainsim's programs (brainsim.environ.set_cpu_vector_width)"
                        "; 0: brainsim's default for this CPU")
    a = p.parse_args(argv)
    if a.threads < 0:
        p.error(f"--threads must be 0 (XLA's default) or a positive count, got {a.threads}")
    import brainsim
    if a.threads:
        brainsim.environ.set_cpu_threads(a.threads)
    threads = brainsim.environ.get_cpu_threads()
    if a.vector_width:
        brainsim.environ.set_cpu_vector_width(a.vector_width)
    width = brainsim.environ.get_cpu_vector_width()
    n = int(3200 * a.scale) + int(800 * a.scale)
    if a.floor_repeats:
        r = bench_floor_ratio(a.scale, a.duration, a.floor_repeats)
        if r is None or "error" in r:
            why = r["error"] if r else f"g++ or {CPP_FLOOR} not found"
            print(f"C++ floor unavailable: {why}")
            if a.json:      # skipped, and the JSON line says so
                print(json.dumps(dict(model=a.model, n_neurons=n, duration_ms=a.duration,
                                      threads=threads, vector_width=width,
                                      skipped=f"C++ floor unavailable: {why}")))
            return
        print(f"coba scale={a.scale} ({n} neurons), {a.duration:g} ms simulated, "
              f"{r['repeats']} interleaved pairs, {threads} XLA thread(s), {width}-bit SIMD, "
              "medians (s per simulated s)")
        print(f"brainsim {r['wall_s']:.3f}  cpp_floor {r['cpp_wall_s']:.3f}  "
              f"ratio {r['ratio']:.2f}x (pairs {r['ratio_min']:.2f}-{r['ratio_max']:.2f}x)  "
              f"rates {r['rate_hz']:.2f} / {r['cpp_rate_hz']:.2f} Hz")
        if a.json:
            print(json.dumps(dict(model="coba", n_neurons=n, duration_ms=a.duration,
                             threads=threads, vector_width=width, **r)))
        return
    if a.recording_cost:
        r = bench_recording_cost(a.model, a.scale, a.duration, a.repeats)
        print(f"{a.model} scale={a.scale} ({n} neurons), {a.duration:g} ms simulated, "
              f"{r['repeats']} interleaved repeats, medians (s per simulated s)")
        print(f"{'':6s}{'with spikes':>13s}{'without':>10s}{'ratio':>8s}")
        for k in ("wall", "cpu"):
            print(f"{k:6s}{r[k + '_with_s']:13.3f}{r[k + '_without_s']:10.3f}{r[k + '_ratio']:8.3f}")
        if a.json:
            print(json.dumps(dict(model=a.model, n_neurons=n, duration_ms=a.duration,
                             threads=threads, vector_width=width, **r)))
        return
    rows = {"brainsim": bench_brainsim(a.model, a.scale, a.duration, progress=a.progress)}
    if a.compare_backends:
        rows["brainsim_jax"] = bench_brainsim(a.model, a.scale, a.duration, backend="jax")
        import brainsim.event as ev
        ev.set_backend("auto")
    if a.model == "coba" and not a.no_numba:
        try:
            rows["numba"] = bench_numba(a.scale, a.duration)
        except ImportError:
            pass
    cpp_note = None
    if a.model == "coba" and not a.no_cpp:
        c = bench_cpp_floor(a.scale, a.duration)
        if c is None:
            cpp_note = f"C++ floor skipped: g++ or {CPP_FLOOR} not found"
        else:
            rows["cpp_floor"] = c
    if not a.no_brian2:
        b = bench_brian2(a.brian2_python, a.model, a.scale, a.duration)
        if b is not None:
            rows["brian2_cython"] = b
    print(f"{a.model} scale={a.scale} ({n} neurons), {a.duration:g} ms simulated, dt=0.1 ms, "
          f"{threads} XLA thread(s), {width}-bit SIMD")
    print(f"{'':15s}{'build s':>9s}{'compile s':>11s}{'wall s/sim s':>14s}{'rate Hz':>9s}")
    for k, r in rows.items():
        if "error" in r:
            print(f"{k:15s} {r['error']}")
            continue
        print(f"{k:15s}{r['build_s']:9.2f}{r['compile_s']:11.2f}{r['wall_s']:14.3f}{r['rate_hz']:9.2f}")
    base = rows["brainsim"]["wall_s"]
    import brainsim.event as ev
    print(f"event backend: {ev.get_backend()}, kernels built: {ev.kernels_available()}")
    if cpp_note:
        print(cpp_note)
    for k in ("cpp_floor", "brainsim_jax", "numba", "brian2_cython"):
        if k in rows and "wall_s" in rows[k]:
            print(f"brainsim / {k}: {base / rows[k]['wall_s']:.2f}x")
    if a.json:
        out = dict(model=a.model, n_neurons=n, duration_ms=a.duration, threads=threads,
                   vector_width=width,
                   **rows["brainsim"],
                   others={k: v for k, v in rows.items() if k != "brainsim"})
        if "wall_s" in rows.get("cpp_floor", {}):
            out["ratio_to_cpp_floor"] = base / rows["cpp_floor"]["wall_s"]
        print(json.dumps(out))


if __name__ == "__main__":
    main()
