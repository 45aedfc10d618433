"""CUBA written as Brian model strings: Brian2's CUBA example (Vogels & Abbott 2005) in brainsim.

4000 integrate-and-fire neurons with current-based exponential synapses, random connections
with p = 0.02 from the excitatory subgroup P[:3200] and the inhibitory subgroup P[3200:],
1 s of activity. The model strings are Brian2's, copied over unchanged; prints the mean rate.

    python examples/cuba_equations.py [--duration 1000] [--seed 0] [--compare-brian2]

``--compare-brian2`` also runs Brian2's own CUBA with the Python named by the
``BRIAN2_PYTHON`` environment variable (a separate venv with brian2 installed).
"""
from __future__ import annotations

import argparse
import os
import subprocess

import brainunit as u
import numpy as np

import brainsim
from brainsim import event, projections
from brainsim.runner import Runner, SpikeMonitor

EQS = """
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
"""
NAMESPACE = dict(taum=20 * u.ms, taue=5 * u.ms, taui=10 * u.ms, Vt=-50 * u.mV, Vr=-60 * u.mV,
                 El=-49 * u.mV)


class CUBA(brainsim.DynamicsModule):
    """P = NeuronGroup(4000, eqs, threshold='v>Vt', reset='v = Vr', refractory=5*ms)."""

    def __init__(self, n: int = 4000, seed: int = 0):
        super().__init__(n)
        n_e = n * 4 // 5
        self.P = brainsim.NeuronGroup(n, EQS, threshold="v>Vt", reset="v = Vr",
                                      refractory=5 * u.ms, method="exact", namespace=NAMESPACE)
        rng = np.random.default_rng(seed)
        Vt, Vr = -50., -60.
        self.P.v = (Vr + rng.random(n) * (Vt - Vr)) * u.mV     # 'Vr + rand() * (Vt - Vr)'
        we = (60 * 0.27 / 10) * u.mV     # excitatory synaptic weight (voltage)
        wi = (-20 * 4.5 / 10) * u.mV     # inhibitory synaptic weight
        Pe, Pi = self.P[:n_e], self.P[n_e:]
        self.Ce = projections.DeltaProj(event.random_conn(n_e, n, prob=0.02, seed=seed,
                                                          weight=we),
                                        pre=Pe, post=self.P, target="ge")   # on_pre='ge += we'
        self.Ci = projections.DeltaProj(event.random_conn(n - n_e, n, prob=0.02, seed=seed + 1,
                                                          weight=wi),
                                        pre=Pi, post=self.P, target="gi")   # on_pre='gi += wi'

    def update(self):
        self.Ce()
        self.Ci()
        return self.P()


def simulate(duration=1000. * u.ms, seed: int = 0, n: int = 4000, progress: bool = True):
    """Build and run CUBA; return the mean rate over all neurons and the whole run."""
    brainsim.environ.set(dt=0.1 * u.ms)
    net = brainsim.init_states(CUBA(n, seed))
    res = Runner(net, monitors={"spikes": SpikeMonitor(net.P)}, progress=progress).run(duration)
    return res["spikes"].mean_rate()


BRIAN2_SCRIPT = """
from brian2 import *
prefs.codegen.target = "numpy"
taum = 20*ms; taue = 5*ms; taui = 10*ms; Vt = -50*mV; Vr = -60*mV; El = -49*mV
eqs = '''
dv/dt  = (ge+gi-(v-El))/taum : volt (unless refractory)
dge/dt = -ge/taue : volt
dgi/dt = -gi/taui : volt
'''
P = NeuronGroup(4000, eqs, threshold='v>Vt', reset='v = Vr', refractory=5*ms, method='exact')
P.v = 'Vr + rand() * (Vt - Vr)'
P.ge = 0*mV; P.gi = 0*mV
we = (60*0.27/10)*mV; wi = (-20*4.5/10)*mV
Ce = Synapses(P, P, on_pre='ge += we'); Ci = Synapses(P, P, on_pre='gi += wi')
Ce.connect('i<3200', p=0.02); Ci.connect('i>=3200', p=0.02)
s_mon = SpikeMonitor(P)
run(%f * ms)
print(s_mon.num_spikes / 4000 / (%f * 0.001))
"""


def brian2_rate(duration_ms: float) -> float:
    """Brian2's CUBA mean rate (Hz), run by $BRIAN2_PYTHON."""
    py = os.environ.get("BRIAN2_PYTHON")
    if not py:
        raise RuntimeError("--compare-brian2 needs BRIAN2_PYTHON, the python of a venv with "
                           "brian2 installed.")
    out = subprocess.run([py, "-c", BRIAN2_SCRIPT % (duration_ms, duration_ms)], check=True,
                         capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare-brian2", action="store_true")
    a = p.parse_args(argv)
    rate = float(simulate(a.duration * u.ms, a.seed).to_decimal(u.Hz))
    print(f"brainsim mean rate: {rate:.2f} Hz")
    if a.compare_brian2:
        print(f"Brian2   mean rate: {brian2_rate(a.duration):.2f} Hz")
    return rate


if __name__ == "__main__":
    main()
