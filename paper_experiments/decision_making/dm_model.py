"""Wang (2002)'s spiking decision-making network, built from brainsim parts.

Populations (the paper's notebook ``dmnet_with_parallel_computing/decision-making-tpu.ipynb``,
which follows Wang 2002): ``N_E = 1600 * scale`` excitatory neurons split into two selective
groups A and B (a fraction ``f = 0.15`` each) and a non-selective group N, and
``N_I = 400 * scale`` inhibitory neurons, all ``neurons.LIFRef``:

* E: tau 20 ms, R 40 MOhm (g_L = 25 nS), tau_ref 2 ms; I: tau 10 ms, R 50 MOhm (20 nS),
  tau_ref 1 ms; V_rest -70 mV, V_th -50 mV, V_reset -55 mV, V(0) = -70 mV.
* Recurrent all-to-all E -> E and E -> I through AMPA (exponential, tau 2 ms) and NMDA
  (``synapses.NMDA``: a = 0.5 /ms, tau_rise 2 ms, tau_decay 100 ms, ``synapses.MgBlock``
  with [Mg] = 1 mM), I -> E and I -> I through GABA_A (exponential, tau 5 ms, E = -70 mV);
  a 0.5 ms delay on every recurrent projection.
* Peak conductances (nS), divided by ``scale``: E->E AMPA 0.05, NMDA 0.165; E->I AMPA 0.04,
  NMDA 0.13; I->E GABA 1.3, I->I 1.0. Within a selective group the E->E weights are
  ``w+ = 1.7``; from the other selective group and from N into a selective group
  ``w- = 1 - f (w+ - 1) / (1 - f)``; everything else 1.
* Background: each neuron gets its own 2.4 kHz Poisson train through AMPA (2.1 nS on E,
  1.62 nS on I). Stimulus: each A (B) neuron gets its own Poisson train at the rate
  ``mu_A`` (``mu_B``) of the trial, through AMPA at 2.1 nS.

Because the connectivity is all-to-all and the weights depend only on the two groups, the
recurrent input of a neuron is a weighted sum of the four groups' summed gating variables.
The linear AMPA and GABA_A gates are therefore kept as one exponential synapse per
presynaptic group (``synapses.Expon`` of size 3 and 1, driven by the group's spike count),
which is exact; the NMDA gate saturates, so it is kept per presynaptic neuron
(``synapses.NMDA`` of size N_E) and summed per group. The recurrent delay is applied to these
seven group sums (a shift in time commutes with the time-invariant synapses), so the
per-step cost is O(N), not O(N^2).
"""
from __future__ import annotations

import brainunit as u
import jax.numpy as jnp
import numpy as np

import brainsim
from brainsim import environ, neurons, synapses

E_EXC, E_INH = 0., -70.          # reversal potentials (mV)


def poisson_counts(lam, n, k_max=8):
    """Poisson(``lam``) counts of ``n`` trains in one step, by inverting the CDF of one uniform.

    Exact up to ``P(X > k_max)`` (below 1e-9 for ``lam`` <= 0.3, the 2.4 kHz background at
    dt = 0.1 ms); one uniform per train is much cheaper than ``jax.random.poisson``'s rejection
    loop inside a scanned, vmapped step.
    """
    r = brainsim.random.random(n)
    p = jnp.exp(-lam)
    cdf, count = p, jnp.zeros(n, jnp.float32)
    for k in range(1, k_max + 1):
        count = count + (r > cdf)
        p = p * lam / k
        cdf = cdf + p
    return count


class DecisionNet(brainsim.Module):
    """The network; ``update(mu_a, mu_b)`` (stimulus rates in Hz) returns the spike counts of
    A and B in this step. Voltages are in mV, conductances in nS and currents in pA (floats)."""

    def __init__(self, scale: float = 1., f: float = 0.15, w_pos: float = 1.7,
                 bg_rate: float = 2400., delay_ms: float = 0.5, mg: float = 1.):
        super().__init__(name="decision_net")
        n_e = int(1600 * scale)
        n_i, n_a = int(400 * scale), int(f * n_e)
        self.n_a, self.n_b, self.n_n, self.n_i = n_a, n_a, n_e - 2 * n_a, n_i
        self.n_e = n_e
        self.scale, self.bg_rate, self.delay_ms = scale, bg_rate, delay_ms
        w_neg = 1. - f * (w_pos - 1.) / (1. - f)
        # W[pre group, post group] for the E groups A, B, N
        self.W = jnp.asarray([[w_pos, w_neg, 1.], [w_neg, w_pos, 1.], [w_neg, w_neg, 1.]],
                             jnp.float32)
        self.g = dict(ext_e=2.1, ext_i=1.62, ee_ampa=0.05 / scale, ei_ampa=0.04 / scale,
                      ee_nmda=0.165 / scale, ei_nmda=0.13 / scale, ie_gaba=1.3 / scale,
                      ii_gaba=1.0 / scale)
        self.group = jnp.asarray(np.repeat([0, 1, 2], [n_a, n_a, n_e - 2 * n_a]), jnp.int32)
        common = dict(V_rest=-70., V_reset=-55., V_th=-50., V_initializer=-70.)
        self.E = neurons.LIFRef(n_e, tau=20. * u.ms, R=0.04, tau_ref=2. * u.ms, **common)
        self.I = neurons.LIFRef(n_i, tau=10. * u.ms, R=0.05, tau_ref=1. * u.ms, **common)
        self.ext_e = synapses.Expon(n_e, tau=2. * u.ms)          # background + stimulus
        self.ext_i = synapses.Expon(n_i, tau=2. * u.ms)
        self.ampa = synapses.Expon(3, tau=2. * u.ms)             # per E group: A, B, N
        self.gaba = synapses.Expon(1, tau=5. * u.ms)
        self.nmda = synapses.NMDA(n_e, a=0.5 / u.ms, tau_decay=100. * u.ms, tau_rise=2. * u.ms)
        self.mg = synapses.MgBlock(E=E_EXC, cc_Mg=mg, alpha=0.062, beta=3.57)
        self.E.add_current_input("syn", lambda V: self._current(V, "e"))
        self.I.add_current_input("syn", lambda V: self._current(V, "i"))

    def init_state(self, batch_size: int | None = None) -> None:
        d = max(int(round(self.delay_ms / float(environ.get_dt().to_decimal(u.ms)))), 1)
        shape = (d, 7) if batch_size is None else (batch_size, d, 7)
        # the last d steps of the recurrent group sums: AMPA (A, B, N), NMDA (A, B, N), GABA
        self.buffer = brainsim.HiddenState(jnp.zeros(shape, jnp.float32))
        lead = () if batch_size is None else (batch_size,)
        # this step's conductances (nS) seen by each neuron, read by the current callables:
        # external AMPA, recurrent AMPA, NMDA (before the Mg block), GABA_A
        self.cond_e = brainsim.ShortTermState(jnp.zeros(lead + (self.n_e, 4), jnp.float32))
        self.cond_i = brainsim.ShortTermState(jnp.zeros(lead + (self.n_i, 4), jnp.float32))

    def _current(self, V, pop):
        c = (self.cond_e if pop == "e" else self.cond_i).value
        ext, ampa, nmda, gaba = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
        return (ext + ampa) * (E_EXC - V) + self.mg(nmda, V) + gaba * (E_INH - V)

    def update(self, mu_a, mu_b):
        dt_s = float(environ.get_dt().to_decimal(u.second))
        g = self.g
        # delayed recurrent sums: the oldest entry of the ring buffer
        past = self.buffer.value[0]
        s_ampa, s_nmda, s_gaba = past[:3], past[3:6], past[6]
        post_ampa = s_ampa @ self.W                               # per post E group
        post_nmda = s_nmda @ self.W
        # Poisson input: background (every neuron) plus the stimulus (A and B); a sum of
        # independent Poisson trains through one synapse is one Poisson train
        rate_e = jnp.full(self.n_e, self.bg_rate, jnp.float32)
        rate_e = rate_e.at[:self.n_a].add(mu_a).at[self.n_a:2 * self.n_a].add(mu_b)
        n_ext_e = poisson_counts(rate_e * dt_s, self.n_e)
        n_ext_i = poisson_counts(jnp.full(self.n_i, self.bg_rate * dt_s), self.n_i)
        x_e = self.ext_e(n_ext_e)
        x_i = self.ext_i(n_ext_i)
        grp = self.group
        self.cond_e.value = jnp.stack([
            g["ext_e"] * x_e, g["ee_ampa"] * post_ampa[grp], g["ee_nmda"] * post_nmda[grp],
            jnp.full(self.n_e, g["ie_gaba"] * s_gaba)], axis=-1)
        self.cond_i.value = jnp.stack([
            g["ext_i"] * x_i, jnp.full(self.n_i, g["ei_ampa"] * s_ampa.sum()),
            jnp.full(self.n_i, g["ei_nmda"] * s_nmda.sum()),
            jnp.full(self.n_i, g["ii_gaba"] * s_gaba)], axis=-1)
        spk_e = self.E()
        spk_i = self.I()
        counts = jnp.stack([spk_e[:self.n_a].sum(), spk_e[self.n_a:2 * self.n_a].sum(),
                            spk_e[2 * self.n_a:].sum()])
        a = self.ampa(counts)
        n = self.nmda(spk_e)
        n_sum = jnp.stack([n[:self.n_a].sum(), n[self.n_a:2 * self.n_a].sum(),
                           n[2 * self.n_a:].sum()])
        gb = self.gaba(spk_i.sum()[None])
        now = jnp.concatenate([a, n_sum, gb])
        self.buffer.value = jnp.concatenate([self.buffer.value[1:], now[None]], axis=0)
        return counts[:2]
