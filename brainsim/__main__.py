"""``python -m brainsim``: what is installed, what JAX runs on, and a 1-second sample network.

Prints the versions of brainsim and its core dependencies, JAX's default
backend and devices, whether the compiled event kernels are built and which
event backend is in use, and the threads and SIMD width of CPU programs; then
simulates 1 s of a small COBA E/I network
(4,000 LIF neurons, the Brette et al. 2007 benchmark) and prints its mean rate and the time the run took, the way
Brian 1's ``brian_sample_run`` did.
"""
from __future__ import annotations

import importlib.metadata as metadata
import sys
import time

import brainunit as u
import jax
import numpy as np

import brainsim
from brainsim import event, init, neurons, projections, synapses
from brainsim.runner import Runner, SpikeMonitor


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> list[str]:
    """The lines describing versions, devices and the event backend."""
    chosen = event.get_backend()
    cpu = jax.default_backend() == "cpu"
    if chosen == "jax" or not (event.kernels_available() and (cpu or chosen == "cpu_kernel")):
        effective = "pure JAX"
    else:
        effective = "compiled XLA:CPU kernel"
    return [
        f"brainsim   {brainsim.__version__}",
        f"jax        {jax.__version__}",
        f"jaxlib     {_version('jaxlib')}",
        f"brainunit  {_version('brainunit')}",
        f"python     {sys.version.split()[0]}",
        f"default backend: {jax.default_backend()}",
        f"devices:         {', '.join(str(d) for d in jax.devices())}",
        f"compiled event kernels built: {'yes' if event.kernels_available() else 'no'}",
        f"event backend:   {chosen!r} -> {effective} "
        "(brainsim.event.set_backend or BRAINSIM_EVENT_BACKEND)",
        f"CPU programs:    {brainsim.environ.get_cpu_threads()} thread(s), "
        f"{brainsim.environ.get_cpu_vector_width()}-bit vectors "
        "(brainsim.environ.set_cpu_threads, set_cpu_vector_width)",
    ]


class _SampleNet(brainsim.DynamicsModule):
    """A COBA E/I network (Vogels & Abbott 2005) of ``n`` LIF neurons, 80 % excitatory."""

    def __init__(self, n: int = 4000, p: float = 0.02, seed: int = 0):
        super().__init__(n)
        self.n_exc = ne = int(0.8 * n)
        self.neu = neurons.LIFRef(
            n, tau=20. * u.ms, V_rest=-60. * u.mV, V_th=-50. * u.mV, V_reset=-60. * u.mV,
            R=100. * u.Mohm, tau_ref=5. * u.ms, V_initializer=init.Normal(-55. * u.mV, 2. * u.mV))
        # weights scaled from the 4,000-neuron, p = 0.02 network to keep its input per neuron
        scale = 4000 * 0.02 / (n * p)
        W_e = event.random_conn(ne, n, prob=p, seed=seed, weight=6. * scale * u.nS)
        W_i = event.random_conn(n - ne, n, prob=p, seed=seed + 1, weight=67. * scale * u.nS)
        self.exc = projections.AlignPostProj(
            lambda s: event.BinaryArray(s[:ne]) @ W_e, synapses.Expon(n, 5. * u.ms),
            synapses.COBA(E=0. * u.mV), post=self.neu, pre=self.neu)
        self.inh = projections.AlignPostProj(
            lambda s: event.BinaryArray(s[ne:]) @ W_i, synapses.Expon(n, 10. * u.ms),
            synapses.COBA(E=-80. * u.mV), post=self.neu, pre=self.neu)

    def update(self, current=200. * u.pA):
        self.exc()
        self.inh()
        return self.neu(current)


def sample_run(duration=1000. * u.ms, n: int = 4000, progress: bool = False) -> tuple[float, float, float]:
    """Simulate the sample network; return (mean rate in Hz, compile+run s, second-run s)."""
    with brainsim.environ.context(dt=0.1 * u.ms):
        brainsim.random.seed(0)
        net = brainsim.init_states(_SampleNet(n))
        runner = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=progress)
        t0 = time.perf_counter()
        res = runner.run(duration)
        first = time.perf_counter() - t0
        brainsim.reset_states(net)
        t0 = time.perf_counter()
        res = runner.run(duration)
        jax.block_until_ready(res["spikes"].i)
        second = time.perf_counter() - t0
    rate = float(res["spikes"].mean_rate().to_decimal(u.Hz))
    return rate, first, second


def main() -> int:
    for line in environment():
        print(line)
    print("running the sample network: 4,000 COBA LIF neurons, 1 s of biological time ...",
          flush=True)
    rate, first, second = sample_run(progress=sys.stdout.isatty())
    print(f"sample run: mean rate {rate:.2f} Hz; {first:.2f} s with compilation, "
          f"{second:.3f} s compiled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
