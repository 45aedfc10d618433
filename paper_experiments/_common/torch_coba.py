"""The COBA-LIF network in PyTorch with sparse (CSR) spike propagation; run by ``TORCH_PYTHON``.

    python torch_coba.py SCALE DURATION_MS CHUNK_MS SEED THREADS

Each step: g_e += W_e^T s_e, g_i += W_i^T s_i with W^T a ``torch.sparse_csr_tensor`` (post x pre)
and s the float spike vector of the previous step; then the conductances decay exactly
(tau 5 / 10 ms) and V is integrated exactly for frozen conductances (exponential Euler), with
5 ms refractoriness. Same parameters as brainsim's ``examples/ei_coba_lif.py``; connectivity
p = 0.02 drawn here (independent Bernoulli draws for every pair, as Brian2 and NEST).
Prints one JSON line: ``build_s``, ``first_s``, ``run_s``, ``s_per_sim_s``, ``rate_hz``.
"""
import json
import sys
import time

import numpy as np
import torch

scale, duration_ms, chunk_ms, seed, threads = (float(sys.argv[1]), float(sys.argv[2]),
                                               float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
if threads > 0:
    torch.set_num_threads(threads)
torch.manual_seed(seed)
rng = np.random.default_rng(seed)
t0 = time.perf_counter()
ne, ni = int(3200 * scale), int(800 * scale)
n = ne + ni


def conn_t(rows, w):
    """W^T as CSR of shape (n, rows): row j lists the pre neurons of post j."""
    pres, posts = [], []
    for a in range(0, rows, 1000):
        r, c = np.nonzero(rng.random((min(1000, rows - a), n), dtype=np.float32) < 0.02)
        pres.append(r.astype(np.int64) + a)
        posts.append(c.astype(np.int64))
    pre, post = np.concatenate(pres), np.concatenate(posts)
    order = np.lexsort((pre, post))
    pre, post = pre[order], post[order]
    crow = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(post, minlength=n), out=crow[1:])
    return torch.sparse_csr_tensor(torch.from_numpy(crow), torch.from_numpy(pre),
                                   torch.full((len(pre),), w, dtype=torch.float32), size=(n, rows))


We, Wi = conn_t(ne, 6. / scale), conn_t(ni, 67. / scale)
dt, gl, C, El, Ee, Ei, I, Vth, Vr = 0.1, 10., 200., -60., 0., -80., 200., -50., -60.
de, di = float(np.exp(-dt / 5.)), float(np.exp(-dt / 10.))
V = torch.from_numpy((-55. + 2. * rng.standard_normal(n)).astype(np.float32))
ge, gi = torch.zeros(n), torch.zeros(n)
ref = torch.zeros(n)                      # remaining refractory time, ms
spk = torch.zeros(n)
build = time.perf_counter() - t0


@torch.no_grad()
def run(steps):
    global V, ge, gi, ref, spk
    count = torch.zeros((), dtype=torch.int64)
    for _ in range(steps):
        ge = (ge + torch.mv(We, spk[:ne])) * de
        gi = (gi + torch.mv(Wi, spk[ne:])) * di
        gt = gl + ge + gi
        vinf = (gl * El + ge * Ee + gi * Ei + I) / gt
        v = vinf + (V - vinf) * torch.exp(-dt * gt / C)
        active = ref <= 0
        v = torch.where(active, v, V)
        fired = active & (v > Vth)
        V = torch.where(fired, torch.full_like(v, Vr), v)
        ref = torch.where(fired, torch.full_like(ref, 5.), ref - dt)
        spk = fired.float()
        count += fired.sum()
    return int(count)


steps_chunk = int(round(chunk_ms / dt))
t0 = time.perf_counter()
run(steps_chunk)
first = time.perf_counter() - t0
t0, c0 = time.perf_counter(), time.process_time()
spikes = run(int(round(duration_ms / dt)))
run_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps(dict(sim="torch", n=n, threads=torch.get_num_threads(), build_s=build,
                      first_s=first, run_s=run_s, cpu_s=cpu_s, s_per_sim_s=run_s / (duration_ms / 1e3),
                      rate_hz=spikes / n / (duration_ms / 1e3), version=torch.__version__)))
