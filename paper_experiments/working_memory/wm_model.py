"""The two working-memory networks of the paper's section 5.3, built from brainsim parts.

``SpikingWM``: input -> exponential synapse (tau 100 ms, the input and the recurrent spikes
through Dale's-law weights) -> 80 E + 20 I GIF neurons with adaptation currents -> linear
readout -> exponential output filter (tau 10 ms). ``RateWM``: the same layout with ReLU rate
units (a leaky integrator, tau 100 ms) instead of spiking neurons.
"""
from __future__ import annotations

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

import brainsim
from brainsim import layers, neurons, synapses


def kaiming(rng, fan_in, shape, scale):
    """N(0, scale / fan_in), the paper's KaimingNormal(scale)."""
    return jnp.asarray(rng.normal(0., np.sqrt(scale / fan_in), shape), jnp.float32)


class SpikingWM(brainsim.Module):
    """GIF recurrent network; ``update(x)`` returns (readout, spikes, normalised potential)."""

    def __init__(self, n_in, n_exc=80, n_inh=20, n_out=2, *, tau_syn=100. * u.ms,
                 tau_out=10. * u.ms, A2=-0.6, tau_I2=(100., 3000.), tau_I1=10. * u.ms,
                 w_scale=0.4, in_scale=None, surrogate_alpha=1., readout="all", seed=0):
        super().__init__(name="spiking_wm")
        if readout not in ("all", "exc"):
            raise ValueError(f"readout must be 'all' (every neuron) or 'exc' (the E neurons "
                             f"only); got {readout!r}.")
        rng = np.random.default_rng(seed)
        n = n_exc + n_inh
        self.n_exc, self.n = n_exc, n
        in_scale = w_scale if in_scale is None else in_scale
        self.i2r = layers.Linear(n_in, n, weight=kaiming(rng, n_in, (n_in, n), in_scale))
        w_rr = np.array(kaiming(rng, n, (n, n), w_scale))
        w_rr[:n_exc] /= n_exc / n_inh          # balance: E rows are 4x more numerous
        self.rec = layers.DaleLinear(n, n, n_exc=n_exc, weight=jnp.asarray(w_rr), bias=True,
                                     self_connections=False)
        self.syn = synapses.Expon(n, tau=tau_syn)
        # inhibitory neurons get a fast spike-triggered current I1 (A1 = 1), every neuron a
        # slow adaptation current I2 (A2 < 0) with a time constant drawn in tau_I2 ms
        a1 = np.concatenate([np.zeros(n_exc), np.ones(n_inh)]).astype(np.float32)
        ti2 = rng.uniform(tau_I2[0], tau_I2[1], n).astype(np.float32)
        self.gif = neurons.GIF(n, tau=20. * u.ms, V_rest=0., V_reset=0., V_th_inf=1.,
                               tau_I1=tau_I1, A1=jnp.asarray(a1), tau_I2=jnp.asarray(ti2) * u.ms,
                               A2=A2, V_initializer=0., spk_reset="soft",
                               spk_fun=brainsim.surrogate.PiecewiseLinear(alpha=surrogate_alpha))
        # the readout sees every neuron, or (readout="exc") the E neurons only
        self.readout = readout
        n_ro = n if readout == "all" else n_exc
        self.r2o = layers.Linear(n_ro, n_out, weight=kaiming(rng, n_ro, (n_ro, n_out), w_scale))
        self.out = synapses.Expon(n_out, tau=tau_out)

    def update(self, x):
        rec = self.rec(self.gif.spike.value)
        syn = self.syn(self.i2r(x) + rec)
        s = self.gif(syn)
        # the potential before the soft reset, normalised to the threshold: (V - V_th) / V_th
        th = jax.lax.stop_gradient(self.gif.V_th.value)
        v_norm = (self.gif.V.value + th * jax.lax.stop_gradient(s) - th) / th
        ro = s if self.readout == "all" else s[..., :self.n_exc]
        return self.out(self.r2o(ro)), s, v_norm


class RateWM(brainsim.Module):
    """ReLU rate network with Dale's law; ``update(x)`` returns (readout, rates).

    The excitatory units start with a self-connection of gain ``self_gain`` (0.9: a leak
    of 0.1 / tau, so activity lasts about 10 tau), the other recurrent weights small
    (``rec_scale``); without it the 100 ms units forget the sample within the delay and
    the gradient across the delay vanishes (the network stays at chance for hundreds of
    iterations).
    """

    def __init__(self, n_in, n_exc=80, n_inh=20, n_out=2, *, tau=100. * u.ms, w_scale=0.4,
                 rec_scale=0.2, self_gain=0.9, bias=0., seed=0):
        super().__init__(name="rate_wm")
        rng = np.random.default_rng(seed)
        n = n_exc + n_inh
        self.n_exc, self.n = n_exc, n
        self.i2r = layers.Linear(n_in, n, weight=kaiming(rng, n_in, (n_in, n), 2.), bias=True)
        w_rr = np.array(kaiming(rng, n, (n, n), rec_scale))
        w_rr[:n_exc] /= n_exc / n_inh
        # an excitatory self-connection of gain ~1 makes a unit a leak-free integrator at
        # initialisation (IRNN, Le et al. 2015): gradients reach across the delay
        idx = np.arange(n_exc)
        w_rr[idx, idx] = self_gain
        self.rec = layers.DaleLinear(n, n, n_exc=n_exc, weight=jnp.asarray(w_rr), bias=False,
                                     self_connections=self_gain > 0)
        self.h = neurons.LeakyIntegrator(n, tau=tau, V_initializer=0.)
        self.i2r.bias.value = jnp.full(n, bias, jnp.float32)
        self.r2o = layers.Linear(n, n_out, weight=kaiming(rng, n, (n, n_out), w_scale), bias=True)

    def update(self, x):
        r_prev = jax.nn.relu(self.h.V.value)
        r = jax.nn.relu(self.h(self.i2r(x) + self.rec(r_prev)))
        return self.r2o(r), r
