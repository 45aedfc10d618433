"""The GPU check of the speed issue, as one prepared script (10 minutes at most).

Three parts, each on JAX's default device (run it on a machine with an NVIDIA GPU and a
CUDA jaxlib; on a CPU it runs too, which is how ``--smoke`` is tested):

1. **COBA per step.** The network of ``examples/ei_coba_lif.py`` with spikes recorded
   (``Runner`` + ``SpikeMonitor``), 100 ms (1,000 steps) run twice; the second run's wall
   time / 1,000 is the time per step. Stored CSR (p = 0.02, weights / scale) at 4k and
   40k; just-in-time connectivity (p = 80 / N, the paper's scaling network) at 4k, 40k
   and 400k. Target (issue 9): COBA 4k <= 20 us per step, flat to 400k.
2. **Event products against dense.** ``BinaryArray(spikes) @ CSR`` (the pure-JAX path,
   which compacts the active rows with a capacity before gathering them) against
   ``spikes @ dense`` at 4000 x 4000 and 20000 x 20000, p = 0.02, 1 % and 10 % active;
   median of 50 calls of a jitted loop of 100 products.
3. **The training epoch** of ``benchmarks/train_general.py`` (rate-coded input, recurrent
   LIF, BPTT with Adam, T = 25, batch 128), brainsim only.
4. **4M neurons with JIT connectivity** (the scale-out issue): the example's
   ``--conn jitc --scale 1000 --duration 100`` as a subprocess: its wall time and its
   JSON (the raster hash, to compare with the CPU's).

Each part stops starting new sizes once ``--budget`` seconds have passed, and says so.

    python benchmarks/gpu.py [--budget 540] [--smoke] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))
sys.path.insert(0, HERE)

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import brainsim  # noqa: E402
from brainsim import event  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor  # noqa: E402


def coba_step(conn: str, scale: float, steps: int) -> dict:
    from ei_coba_lif import EINet
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(0)
    t0 = time.perf_counter()
    net = brainsim.init_states(EINet(scale, 0, None, conn))
    build = time.perf_counter() - t0
    r = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
    t0 = time.perf_counter()
    r.run(steps * 0.1 * u.ms)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = r.run(steps * 0.1 * u.ms)
    run = time.perf_counter() - t0
    return {"conn": conn, "n": int(4000 * scale), "steps": steps, "build_s": build,
            "compile_s": first - run, "us_per_step": 1e6 * run / steps,
            "rate_hz": float(res["spikes"].mean_rate().to_decimal(u.Hz))}


def products(n: int, act: float, reps: int = 50, inner: int = 100) -> dict:
    rng = np.random.default_rng(0)
    M = event.random_conn(n, n, prob=0.02, seed=0, weight=1.)
    dense = jnp.asarray(u.get_mantissa(M.todense()), jnp.float32)
    spikes = jnp.asarray(rng.random((inner, n)) < act)

    @jax.jit
    def ev(s):
        return jax.lax.map(lambda x: event.BinaryArray(x) @ M, s)

    @jax.jit
    def de(s):
        return jax.lax.map(lambda x: x.astype(jnp.float32) @ dense, s)

    out = {}
    for name, f in (("event_csr", ev), ("dense", de)):
        jax.block_until_ready(f(spikes))
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            jax.block_until_ready(f(spikes))
            ts.append(time.perf_counter() - t0)
        out[f"{name}_us"] = 1e6 * statistics.median(ts) / inner
    np.testing.assert_allclose(np.asarray(ev(spikes[:2])), np.asarray(de(spikes[:2])),
                               rtol=1e-5, atol=1e-3)
    return {"n": n, "active": act, **out, "dense_over_event": out["dense_us"] / out["event_csr_us"]}


def jitc_4m(scale: float) -> dict:
    """The example at ``--conn jitc --scale SCALE --duration 100`` in a process of its own."""
    import subprocess
    script = os.path.join(HERE, "..", "examples", "ei_coba_lif.py")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, script, "--conn", "jitc", "--scale", str(scale),
                          "--duration", "100", "--json"], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, PYTHONPATH=os.path.join(HERE, "..")))
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"the 4M run failed:\n{out.stderr[-2000:]}")
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "wall_s": wall}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=540., help="seconds for all parts")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (a CPU check of the script)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    start = time.perf_counter()
    dev = jax.devices()[0]
    info = {"backend": jax.default_backend(), "device": str(getattr(dev, "device_kind", dev)),
            "jax": jax.__version__, "machine": f"{platform.machine()} {os.cpu_count()} cpu"}
    print(f"device: {info['device']} ({info['backend']}), jax {info['jax']}")
    left = lambda: a.budget - (time.perf_counter() - start)  # noqa: E731
    skipped = []

    sizes = [("csr", 0.05), ("jitc", 0.05)] if a.smoke else \
        [("csr", 1), ("jitc", 1), ("csr", 10), ("jitc", 10), ("jitc", 100)]
    coba = []
    for conn, scale in sizes:
        if left() < 60 and not a.smoke:
            skipped.append(f"coba {conn} scale {scale}: budget")
            continue
        coba.append(coba_step(conn, scale, 100 if a.smoke else 1000))
        c = coba[-1]
        print(f"COBA {c['conn']:5s} N={c['n']:>7d}: {c['us_per_step']:9.1f} us/step "
              f"(compile {c['compile_s']:.1f} s, rate {c['rate_hz']:.1f} Hz)", flush=True)

    prods = []
    for n in ((400,) if a.smoke else (4000, 20000)):
        for act in (0.01, 0.1):
            if left() < 60 and not a.smoke:
                skipped.append(f"products n={n} act={act}: budget")
                continue
            prods.append(products(n, act, reps=3 if a.smoke else 50, inner=4 if a.smoke else 100))
            q = prods[-1]
            print(f"spikes @ W  n={n:>6d} {100 * act:4.0f}% active: event CSR "
                  f"{q['event_csr_us']:9.1f} us, dense {q['dense_us']:9.1f} us "
                  f"(dense / event {q['dense_over_event']:.2f})", flush=True)

    training = None
    if left() > 90 or a.smoke:
        import train_general
        args = ["--epochs", "2" if a.smoke else "4"] + \
            (["--n-train", "256", "--hidden", "16"] if a.smoke else [])
        env_tp = os.environ.pop("TORCH_PYTHON", None)     # brainsim only on this machine
        try:
            s = train_general.main(args)
        finally:
            if env_tp is not None:
                os.environ["TORCH_PYTHON"] = env_tp
        training = {k: s["brainsim"][k] for k in ("epoch_s", "first_epoch_s", "test_acc")}
        print(f"training epoch (train_general, brainsim): {training['epoch_s']:.3f} s "
              f"(first {training['first_epoch_s']:.1f} s), test acc {training['test_acc']:.3f}")
    else:
        skipped.append("training: budget")
    big = None
    if left() > 150 or a.smoke:
        big = jitc_4m(0.05 if a.smoke else 1000.)
        print(f"COBA jitc N={big['n_neurons']}: {big['wall_s']:.1f} s for the whole process "
              f"(100 ms), rate {big['rate_hz']:.2f} Hz, raster {big['raster_sha256'][:12]}")
    else:
        skipped.append("4M JITC: budget")
    if skipped:
        print("not run (time budget): " + "; ".join(skipped))
    summary = {"benchmark": "gpu", **info, "coba": coba, "products": prods,
               "training": training, "jitc_4m": big, "skipped": skipped,
               "total_s": time.perf_counter() - start}
    if a.json:
        print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
