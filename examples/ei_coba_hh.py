"""COBAHH: the conductance-based E/I network of Hodgkin-Huxley neurons (Brette et al. 2007).

4000 Traub-Miles neurons (3200 E, 800 I), p = 0.02, exponential conductances (5 / 10 ms),
no external drive: the activity is sustained by the random initial conductances.

    python examples/ei_coba_hh.py [--scale 1] [--duration 1000] [--seed 0] [--out raster_hh.png]
"""
from __future__ import annotations

import argparse

import brainunit as u
import numpy as np

import brainsim
from brainsim import event, init, neurons, projections, synapses
from brainsim.runner import Runner, SpikeMonitor


class HHNet(brainsim.DynamicsModule):
    """The COBAHH network: one HH population whose first 80 % are excitatory."""

    def __init__(self, scale: float = 1.0, seed: int = 0):
        n_exc, n_inh = int(3200 * scale), int(800 * scale)
        n = n_exc + n_inh
        super().__init__(n)
        self.n_exc, self.n_inh = n_exc, n_inh
        # V = E_L + (5 randn - 5) mV, as in the Brian2 reference script
        self.neu = neurons.HH(n, V_initializer=init.Normal(-65. * u.mV, 5. * u.mV))
        W_exc = event.random_conn(n_exc, n, prob=0.02, seed=seed, weight=6. / scale * u.nS)
        W_inh = event.random_conn(n_inh, n, prob=0.02, seed=seed + 1, weight=67. / scale * u.nS)
        self.exc = projections.AlignPostProj(
            lambda s: event.BinaryArray(s[:n_exc]) @ W_exc,
            synapses.Expon(n, 5. * u.ms, g_initializer=init.Normal(40. * u.nS, 15. * u.nS)),
            synapses.COBA(E=0. * u.mV), post=self.neu, pre=self.neu)
        self.inh = projections.AlignPostProj(
            lambda s: event.BinaryArray(s[n_exc:]) @ W_inh,
            synapses.Expon(n, 10. * u.ms, g_initializer=init.Normal(200. * u.nS, 120. * u.nS)),
            synapses.COBA(E=-80. * u.mV), post=self.neu, pre=self.neu)

    def update(self):
        self.exc()
        self.inh()
        return self.neu()


def simulate(scale: float = 1.0, duration=1000. * u.ms, seed: int = 0, progress: bool = True):
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    net = brainsim.init_states(HHNet(scale, seed))
    res = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=progress).run(duration)
    return net, res["spikes"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="raster_hh.png")
    a = p.parse_args(argv)
    net, spikes = simulate(a.scale, a.duration * u.ms, a.seed)
    exc = np.arange(net.n_exc)
    inh = np.arange(net.n_exc, net.n_exc + net.n_inh)
    r_e = float(spikes.mean_rate(None, exc).to_decimal(u.Hz))
    r_i = float(spikes.mean_rate(None, inh).to_decimal(u.Hz))
    print(f"E rate: {r_e:.2f} Hz   I rate: {r_i:.2f} Hz")
    from brainsim import plot
    plot.raster(spikes, title=f"COBAHH, {net.n_exc + net.n_inh} neurons", path=a.out)
    print(f"raster written to {a.out}")
    return r_e, r_i


if __name__ == "__main__":
    main()
