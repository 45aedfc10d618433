"""Run by tests/test_distributed.py: a parameter sweep of a LIF population driven by Poisson
input, under ``brainsim.vmap(..., mesh=...)``, in one process or in several joined by
jax.distributed. Writes one JSON file (process 0): the gathered spike counts and voltages,
and how often each call traced and compiled (a call with new parameter values should do neither)."""
from __future__ import annotations

import argparse
import json
import logging
import warnings

warnings.simplefilter("error")

import brainunit as u  # noqa: E402
import numpy as np  # noqa: E402

import brainsim  # noqa: E402
from brainsim import neurons, sharding  # noqa: E402

LANES, N, N_IN, STEPS = 8, 6, 40, 400


def sweep(mesh, traces):
    """A jitted, vmapped trial over ``LANES`` input weights (mV per input spike)."""
    import jax.numpy as jnp
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(7)
    net = brainsim.init_states(neurons.LIF(N, tau=10. * u.ms), batch_size=LANES)

    def trial(w):
        traces.append(1)

        def step(i):
            # Poisson input: N_IN inputs at 50 Hz per neuron, each drawing its own numbers
            spk = brainsim.random.rand(N, N_IN) < 50. * 0.1e-3
            return net(w * spk.sum(axis=1) * u.mV)
        out = brainsim.for_loop(step, jnp.arange(STEPS))
        return out, net.V.value
    return brainsim.jit(brainsim.vmap(trial, batched_states=lambda: net.states(), mesh=mesh))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out")
    p.add_argument("--coordinator", default=None)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--process-id", type=int, default=None)
    p.add_argument("--timeout", type=float, default=60.)
    a = p.parse_args()
    if a.coordinator is not None:
        sharding.initialize(a.coordinator, a.processes, a.process_id, timeout=a.timeout)
    import jax
    import jax.numpy as jnp
    from jax.experimental import multihost_utils

    def gather(x):
        x = x.mantissa if isinstance(x, u.Quantity) else x
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            x = multihost_utils.process_allgather(x, tiled=True)
        return np.asarray(x)

    compiles: list = []

    class CountCompiles(logging.Handler):
        def emit(self, record):
            if record.getMessage().startswith("Compiling "):
                compiles.append(record.getMessage()[:60])
    logging.getLogger("jax").addHandler(CountCompiles())

    traces: list = []
    mesh = sharding.make_mesh(len(jax.devices())) if a.coordinator is not None else None
    f = sweep(mesh, traces)
    w1, w2 = jnp.linspace(3., 8., LANES), jnp.linspace(4., 9., LANES)
    res = {"devices": len(jax.devices()), "processes": jax.process_count(),
           "local_devices": len(jax.local_devices())}
    for name, w in (("first", w1), ("again", w1), ("second", w2)):
        before, compiled = len(traces), len(compiles)
        with jax.log_compiles():
            spikes, V = f(w)
        n_compiles = len(compiles) - compiled     # only the sweep's own compilations
        res[name] = {"spikes": gather(spikes).astype(int).tolist(),
                     "V": gather(V).tolist(), "traced": len(traces) - before,
                     "compiled": n_compiles}
        if isinstance(spikes, jax.Array):
            res[name]["spec"] = str(spikes.sharding.spec) if mesh is not None else ""
    if jax.process_index() == 0:
        with open(a.out, "w") as fh:
            json.dump(res, fh)


if __name__ == "__main__":
    main()
