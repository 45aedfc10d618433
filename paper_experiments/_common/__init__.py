"""Shared driver of the paper experiments that compare brainsim with other simulators.

The other simulators run from their own Python (``BRIAN2_PYTHON``, ``NEST_PYTHON``,
``TORCH_PYTHON``) as a subprocess executing one of the scripts next to this file; each script
times itself inside its process (so the interpreter's start-up and imports are not counted) and
prints one JSON line last. A simulator whose variable is unset is skipped with a message.

``brainsim_ei`` times the brainsim side the same way: a warm-up call of ``chunk_ms`` (which
compiles), then ``duration_ms`` in calls of ``chunk_ms`` (the same compiled loop).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

ENV = {"brian2": "BRIAN2_PYTHON", "nest": "NEST_PYTHON", "torch": "TORCH_PYTHON"}
SCRIPTS = {"brian2": "brian2_ei.py", "nest": "nest_ei.py", "torch": "torch_coba.py"}


def python_for(sim: str) -> str | None:
    """The interpreter given for ``sim`` by its environment variable, or None when unset."""
    p = os.environ.get(ENV[sim], "").strip()
    return p or None


def skip_message(sim: str) -> str:
    return f"{sim} skipped: set {ENV[sim]} to a Python that has it"


def run_sim(sim: str, args: list, timeout: float = 3600.) -> dict:
    """Run ``SCRIPTS[sim]`` with ``args`` under ``sim``'s Python; its last JSON line as a dict.

    Returns ``{"skipped": msg}`` when the variable is unset and ``{"error": msg}`` when the
    script fails or runs past ``timeout`` seconds (the experiment goes on without it).
    """
    py = python_for(sim)
    if py is None:
        return {"skipped": skip_message(sim)}
    if not os.path.exists(py):
        return {"error": f"{ENV[sim]}={py} does not exist"}
    cmd = [py, str(HERE / SCRIPTS[sim])] + [str(a) for a in args]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    for line in reversed(out.stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                break
    tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {out.returncode}: " + " | ".join(tail)}


def ok(r: dict | None) -> bool:
    return bool(r) and "error" not in r and "skipped" not in r


def note(r: dict) -> str:
    return r.get("skipped") or r.get("error") or ""


# --------------------------------------------------------------------------- brainsim side
def _load_example(name):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def n_neurons(scale: float) -> int:
    return int(3200 * scale) + int(800 * scale)


def build_net(model: str, scale: float, seed: int = 0, prop: str = "event"):
    """The COBA (``examples/ei_coba_lif.py``) or COBAHH network, states initialised.

    ``prop`` chooses how spikes are propagated (COBA only): ``event`` (brainsim's event CSR,
    the examples' form), ``dense`` (float spikes times a dense matrix) or ``jax_sparse``
    (float spikes times a ``jax.experimental.sparse.BCOO``), all on the same connectivity.
    """
    import brainunit as u
    import brainsim
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    if model == "cobahh":
        return brainsim.init_states(_load_example("ei_coba_hh").HHNet(scale, seed))
    net = _load_example("ei_coba_lif").EINet(scale, seed)
    if prop != "event":
        _replace_comm(net, scale, seed, prop)
    return brainsim.init_states(net)


def _replace_comm(net, scale, seed, prop):
    """Swap the two projections' event CSR for a dense or BCOO product on the same synapses."""
    import brainunit as u
    import jax.numpy as jnp
    from brainsim import event
    n, ne = net.n_exc + net.n_inh, net.n_exc
    mats = []
    for rows, s, w in ((net.n_exc, seed, 6. / scale), (net.n_inh, seed + 1, 67. / scale)):
        W = event.random_conn(rows, n, prob=0.02, seed=s)
        ind, ptr = np.asarray(W.indices), np.asarray(W.indptr)
        pre = np.repeat(np.arange(rows, dtype=np.int32), np.diff(ptr))
        if prop == "dense":
            M = np.zeros((rows, n), np.float32)
            M[pre, ind] = w
            mats.append(jnp.asarray(M))
        elif prop == "jax_sparse":
            from jax.experimental import sparse as jsparse
            idx = jnp.asarray(np.stack([pre, ind.astype(np.int32)], axis=1))
            data = jnp.full(len(ind), w, jnp.float32)
            mats.append(jsparse.BCOO((data, idx), shape=(rows, n)))
        else:
            raise ValueError(f"prop={prop!r}: expected 'event', 'dense' or 'jax_sparse'")
    # The matrices live in States, so the compiled loop takes them as arguments: a matrix that a
    # closure captured would be a constant of the program, which XLA tries to fold (for minutes
    # with BCOO's 32 M indices at 40k).
    import brainsim
    net.exc.w_prop = brainsim.State(mats[0], name="exc.w_prop")
    net.inh.w_prop = brainsim.State(mats[1], name="inh.w_prop")
    net.exc.comm = lambda s: (jnp.asarray(s[:ne], jnp.float32) @ net.exc.w_prop.value) * u.nS
    net.inh.comm = lambda s: (jnp.asarray(s[ne:], jnp.float32) @ net.inh.w_prop.value) * u.nS


def brainsim_ei(model: str, scale: float, duration_ms: float, chunk_ms: float = 500.,
                seed: int = 0, prop: str = "event") -> dict:
    """Time brainsim: build, first call of ``chunk_ms``, then ``duration_ms`` in chunks.

    Returns ``build_s``, ``first_s`` (compile + one chunk), ``compile_s`` (first call minus
    a later call of the same length), ``run_s`` (wall time of ``duration_ms``), ``cpu_s`` (its process CPU time), ``s_per_sim_s``
    and ``rate_hz`` (mean rate during the timed run).
    """
    import brainunit as u
    import jax
    from brainsim.runner import Runner, SpikeMonitor
    t0 = time.perf_counter()
    net = build_net(model, scale, seed, prop)
    jax.block_until_ready(net.neu.V.value)
    build = time.perf_counter() - t0
    runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
    t0 = time.perf_counter()
    runner.run(chunk_ms * u.ms)
    first = time.perf_counter() - t0
    k = max(1, int(round(duration_ms / chunk_ms)))
    spikes, times = 0, []
    c0 = time.process_time()
    for _ in range(k):
        t0 = time.perf_counter()
        rec = runner.run(chunk_ms * u.ms)["spikes"]
        times.append(time.perf_counter() - t0)
        spikes += len(rec.i)
    cpu = time.process_time() - c0
    run = float(np.sum(times))
    n = n_neurons(scale)
    return dict(n=n, build_s=build, first_s=first, compile_s=max(first - float(np.median(times)), 0.),
                run_s=run, cpu_s=cpu, s_per_sim_s=run / (k * chunk_ms / 1e3),
                rate_hz=spikes / n / (k * chunk_ms / 1e3))


def brainsim_compile(scale: float, chunk_ms: float = 100., seed: int = 0,
                     model: str = "coba") -> dict:
    """brainsim's compile time: the first call of ``chunk_ms`` minus the second."""
    r = brainsim_ei(model, scale, chunk_ms, chunk_ms, seed)
    return dict(n=r["n"], compile_s=r["compile_s"], first_s=r["first_s"], second_s=r["run_s"])


def machine() -> str:
    import platform
    try:
        load = "load average %.1f" % os.getloadavg()[0]
    except OSError:
        load = ""
    import jax
    return f"{platform.machine()} {os.cpu_count()} cpu, jax {jax.__version__} {jax.default_backend()}, {load}"


def fmt(v, digits=3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"
