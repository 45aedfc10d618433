"""COBA / COBAHH in Brian2, timed inside this process; run by ``BRIAN2_PYTHON``.

    python brian2_ei.py MODEL SCALE DURATION_MS CHUNK_MS DEVICE SEED [CACHE]

MODEL: coba | cobahh; DEVICE: cython | cpp_standalone. CACHE (cython): ``fresh`` (an empty
Cython cache, the default: every code object is compiled), ``default`` (Brian2's own cache), or
a folder. Prints one JSON line:

* cython: ``build_s`` (Python objects + synapse creation), ``first_s`` (the first run of CHUNK_MS:
  code generation, Cython compilation into an empty cache, and the run), ``compile_s`` (first run
  minus CHUNK_MS of the timed run), ``run_s`` (a second ``run`` of DURATION_MS).
* cpp_standalone: ``compile_s`` (code generation + C++ build, ``device.build(run=False)``),
  ``run_s`` (time in the network's code objects during the run of DURATION_MS, from Brian2's
  profiling; synapse creation inside the binary is excluded) and ``binary_s`` (the binary's whole
  run time).

Same model as brainsim's examples: dt = 0.1 ms, exponential Euler, p = 0.02 with weights 6/scale
and 67/scale nS, one step of synaptic delay (Brian2's default, the spike of step t acts at t+1).
"""
import json
import os
import shutil
import sys
import tempfile
import time

model, scale, duration_ms, chunk_ms = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
device_name, seed_value = sys.argv[5], int(sys.argv[6])
cache = sys.argv[7] if len(sys.argv) > 7 else "fresh"

import brian2 as b2  # noqa: E402
from brian2 import ms, mV, nS, pA, pF, umetre, usiemens  # noqa: E402

tmp = tempfile.mkdtemp(prefix="brian2_ei_")
if device_name == "cpp_standalone":
    b2.set_device("cpp_standalone", directory=tmp, build_on_run=False)
    # make -j without a limit starts one compiler per source file: keep it to the cores
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j%d" % max(1, len(os.sched_getaffinity(0)))]
else:
    b2.prefs.codegen.target = "cython"
    if cache != "default":         # an empty cache: the compile time is counted
        b2.prefs.codegen.runtime.cython.cache_dir = tmp if cache == "fresh" else cache
b2.defaultclock.dt = 0.1 * ms
b2.seed(seed_value)

t0 = time.perf_counter()
ne, ni = int(3200 * scale), int(800 * scale)
n = ne + ni
if model == "coba":
    eqs = """dv/dt = (gl*(El - v) + ge*(Ee - v) + gi*(Ei - v) + I)/C : volt (unless refractory)
             dge/dt = -ge/(5*ms) : siemens
             dgi/dt = -gi/(10*ms) : siemens"""
    P = b2.NeuronGroup(n, eqs, threshold="v > -50*mV", reset="v = -60*mV", refractory=5 * ms,
                       method="exponential_euler",
                       namespace=dict(gl=10 * nS, El=-60 * mV, Ee=0 * mV, Ei=-80 * mV, C=200 * pF,
                                      I=200 * pA))
    P.v = "-55*mV + 2*mV*randn()"
else:
    eqs = """dv/dt = (gl*(El-v) + ge*(Ee-v) + gi*(Ei-v) - g_na*(m*m*m)*h*(v-ENa) - g_kd*(n*n*n*n)*(v-EK))/Cm : volt
    dm/dt = 0.32*(mV**-1)*4*mV/exprel((13.*mV-v+VT)/(4*mV))/ms*(1-m)-0.28*(mV**-1)*5*mV/exprel((v-VT-40.*mV)/(5*mV))/ms*m : 1
    dn/dt = 0.032*(mV**-1)*5*mV/exprel((15.*mV-v+VT)/(5*mV))/ms*(1.-n)-.5*exp((10.*mV-v+VT)/(40.*mV))/ms*n : 1
    dh/dt = 0.128*exp((17.*mV-v+VT)/(18.*mV))/ms*(1.-h)-4./(1+exp((40.*mV-v+VT)/(5.*mV)))/ms*h : 1
    dge/dt = -ge/(5.*ms) : siemens
    dgi/dt = -gi/(10.*ms) : siemens"""
    P = b2.NeuronGroup(n, eqs, threshold="v > -20*mV", refractory="v > -20*mV",
                       method="exponential_euler",
                       namespace=dict(Cm=200 * pF, gl=10 * nS, El=-60 * mV, EK=-90 * mV, ENa=50 * mV,
                                      g_na=20 * usiemens, g_kd=6 * usiemens, VT=-63 * mV,
                                      Ee=0 * mV, Ei=-80 * mV))
    P.v = "-60*mV + (randn() * 5 - 5)*mV"
    P.ge = "(randn() * 1.5 + 4) * 10.*nS"
    P.gi = "(randn() * 12 + 20) * 10.*nS"
Ce = b2.Synapses(P[:ne], P, on_pre="ge += %g*nS" % (6. / scale))
Ci = b2.Synapses(P[ne:], P, on_pre="gi += %g*nS" % (67. / scale))
Ce.connect(p=0.02)
Ci.connect(p=0.02)
M = b2.SpikeMonitor(P)
net = b2.Network(P, Ce, Ci, M)
out = dict(sim="brian2", device=device_name, model=model, n=n)

if device_name == "cpp_standalone":
    net.run(duration_ms * ms, profile=True)
    out["build_s"] = time.perf_counter() - t0          # Python side: objects only
    t0 = time.perf_counter()
    b2.device.build(directory=tmp, compile=True, run=False)
    out["compile_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    b2.device.run(directory=tmp, with_output=False)
    out["binary_s"] = time.perf_counter() - t0
    try:
        out["run_s"] = float(sum(float(t) for _, t in net.profiling_info))
    except Exception:  # noqa: BLE001 - fall back to the binary's own run time
        out["run_s"] = float(b2.device._last_run_time)
    spikes = int(M.num_spikes)
    sim_ms = duration_ms
else:
    out["build_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    net.run(chunk_ms * ms)
    out["first_s"] = time.perf_counter() - t0
    n0 = int(M.num_spikes)
    t0, c0 = time.perf_counter(), time.process_time()
    net.run(duration_ms * ms)
    out["run_s"] = time.perf_counter() - t0
    out["cpu_s"] = time.process_time() - c0
    out["compile_s"] = max(out["first_s"] - out["run_s"] * chunk_ms / duration_ms, 0.)
    spikes = int(M.num_spikes) - n0
    sim_ms = duration_ms
out["s_per_sim_s"] = out["run_s"] / (sim_ms / 1e3)
out["rate_hz"] = spikes / n / (sim_ms / 1e3)
shutil.rmtree(tmp, ignore_errors=True)
print(json.dumps(out))
