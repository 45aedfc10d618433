"""The COBA-LIF network with just-in-time connectivity, for the paper's scaling experiment (§5.2).

Same neurons and synapses as ``examples/ei_coba_lif.py`` (80 % E / 20 % I LIF, exponential
conductances, 200 pA drive, dt = 0.1 ms), but each projection is a ``brainsim.event.JITCScalarR``
matrix with ``p = 80 / N`` and the **unscaled** 4k weights (6 nS E, 67 nS I): every neuron keeps
about 80 inputs at any N, and the connectivity costs O(N) memory (a seed and two scalars).
"""
from __future__ import annotations

import brainunit as u

import brainsim
from brainsim import event, init, neurons, projections, synapses


class JITCEINet(brainsim.DynamicsModule):
    """COBA-LIF of ``n`` neurons whose two projections are JITC matrices (p = ``k_in`` / n)."""

    def __init__(self, n: int, seed: int = 0, k_in: float = 80.):
        n_exc = int(0.8 * n)
        n_inh = n - n_exc
        super().__init__(n)
        self.n_exc, self.n_inh = n_exc, n_inh
        self.prob = min(1., k_in / n)
        self.neu = neurons.LIFRef(
            n, tau=20. * u.ms, V_rest=-60. * u.mV, V_th=-50. * u.mV, V_reset=-60. * u.mV,
            R=100. * u.Mohm, tau_ref=5. * u.ms, V_initializer=init.Normal(-55. * u.mV, 2. * u.mV))
        W_exc = event.JITCScalarR((6. * u.nS, self.prob, seed), shape=(n_exc, n))
        W_inh = event.JITCScalarR((67. * u.nS, self.prob, seed + 1), shape=(n_inh, n))
        exc = lambda s: event.BinaryArray(s[:n_exc]) @ W_exc          # noqa: E731
        inh = lambda s: event.BinaryArray(s[n_exc:]) @ W_inh          # noqa: E731
        self.exc = projections.AlignPostProj(
            exc, synapses.Expon(n, 5. * u.ms), synapses.COBA(E=0. * u.mV), post=self.neu, pre=self.neu)
        self.inh = projections.AlignPostProj(
            inh, synapses.Expon(n, 10. * u.ms), synapses.COBA(E=-80. * u.mV), post=self.neu, pre=self.neu)

    def update(self, current=200. * u.pA):
        self.exc()
        self.inh()
        return self.neu(current)


def build(n: int, seed: int = 0) -> JITCEINet:
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    return brainsim.init_states(JITCEINet(n, seed))
