"""COBA (``iaf_cond_exp``) / COBAHH (``hh_cond_exp_traub``) in NEST, timed inside this process.

    python nest_ei.py MODEL SCALE DURATION_MS CHUNK_MS SEED

Prints one JSON line: ``build_s`` (Create + Connect), ``first_s`` (a first Simulate of CHUNK_MS,
which also prepares the kernel), ``run_s`` (Simulate of DURATION_MS), ``s_per_sim_s``, ``rate_hz``.
One thread, dt = 0.1 ms, delay 0.1 ms (one step, as brainsim and Brian2), p = 0.02
(pairwise Bernoulli), weights 6/scale and 67/scale nS. Parameters of the paper's
``nest_COBAlif.py`` / ``nest_COBAHH.py``.

COBAHH: NEST 3.10 does not let one set ``g_ex`` / ``g_in`` of ``hh_cond_exp_traub``, so the random
initial conductances of the Brian2 / brainsim models (40 +- 15 nS and 200 +- 120 nS) are given
as one weighted spike per neuron at t = 0.1 ms (negative draws clipped to 0).
"""
import json
import sys
import time

import numpy as np

model, scale, duration_ms, chunk_ms, seed = (sys.argv[1], float(sys.argv[2]), float(sys.argv[3]),
                                            float(sys.argv[4]), int(sys.argv[5]))
import nest  # noqa: E402

try:
    nest.verbosity = nest.VerbosityLevel.ERROR
except AttributeError:
    nest.set_verbosity("M_ERROR")
nest.ResetKernel()
nest.SetKernelStatus({"resolution": 0.1, "local_num_threads": 1, "rng_seed": seed + 1})
rng = np.random.default_rng(seed)

t0 = time.perf_counter()
ne, ni = int(3200 * scale), int(800 * scale)
n = ne + ni
if model == "coba":
    nest.SetDefaults("iaf_cond_exp", {"C_m": 200., "g_L": 10., "tau_syn_ex": 5., "tau_syn_in": 10.,
                                      "E_ex": 0., "E_in": -80., "t_ref": 5., "E_L": -60.,
                                      "V_th": -50., "I_e": 200., "V_reset": -60.})
    nodes = nest.Create("iaf_cond_exp", n)
    nodes.V_m = list(-55. + 2. * rng.standard_normal(n))
else:
    nest.SetDefaults("hh_cond_exp_traub", {"g_Na": 20000., "g_K": 6000., "g_L": 10., "C_m": 200.,
                                           "E_Na": 50., "E_K": -90., "E_L": -60., "V_T": -63.,
                                           "E_ex": 0., "E_in": -80., "tau_syn_ex": 5.,
                                           "tau_syn_in": 10., "I_e": 0.})
    nodes = nest.Create("hh_cond_exp_traub", n)
    nodes.V_m = list(-65. + 5. * rng.standard_normal(n))
    kick = nest.Create("spike_generator", params={"spike_times": [0.1]})
    g_ex0 = np.clip(40. + 15. * rng.standard_normal(n), 0., None)
    g_in0 = np.clip(200. + 120. * rng.standard_normal(n), 0., None)
    for w in (g_ex0, -g_in0):
        nest.Connect(kick, nodes, "all_to_all",
                     syn_spec={"weight": w.reshape(n, 1), "delay": 0.1})
nest.SetDefaults("static_synapse", {"delay": 0.1})
nest.Connect(nodes[:ne], nodes, {"rule": "pairwise_bernoulli", "p": 0.02},
             syn_spec={"weight": 6. / scale})
nest.Connect(nodes[ne:], nodes, {"rule": "pairwise_bernoulli", "p": 0.02},
             syn_spec={"weight": -67. / scale})
rec = nest.Create("spike_recorder")
nest.Connect(nodes, rec)
out = dict(sim="nest", model=model, n=n, version=nest.__version__)
out["build_s"] = time.perf_counter() - t0
t0 = time.perf_counter()
nest.Simulate(chunk_ms)
out["first_s"] = time.perf_counter() - t0
n0 = rec.n_events
t0, c0 = time.perf_counter(), time.process_time()
nest.Simulate(duration_ms)
out["run_s"] = time.perf_counter() - t0
out["cpu_s"] = time.process_time() - c0
out["s_per_sim_s"] = out["run_s"] / (duration_ms / 1e3)
out["rate_hz"] = (rec.n_events - n0) / n / (duration_ms / 1e3)
print(json.dumps(out))
