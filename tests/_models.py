"""Small stateful models shared by the transform tests (one harness, many models)."""

import brainunit as u
import jax.numpy as jnp

import brainsim


class LIF(brainsim.DynamicsModule):
    """Dimensionless LIF with a hard reset."""

    def __init__(self, n=5, tau=10.0):
        super().__init__(n)
        self.tau = tau

    def init_state(self, batch_size=None):
        self.v = brainsim.HiddenState(jnp.zeros(self.batched_shape(batch_size)))

    def update(self, x):
        v = self.v.value + (x - self.v.value) / self.tau
        spike = v >= 1.0
        self.v.value = jnp.where(spike, 0.0, v)
        return spike.astype(jnp.float32)


class UnitNeuron(brainsim.DynamicsModule):
    """Membrane in mV, conductance in nS: units must survive every transform."""

    def __init__(self, n=4):
        super().__init__(n)

    def init_state(self, batch_size=None):
        shape = self.batched_shape(batch_size)
        self.V = brainsim.HiddenState(jnp.full(shape, -60.0) * u.mV)
        self.g = brainsim.HiddenState(jnp.zeros(shape) * u.nS)

    def update(self, x):
        dt = 0.1 * u.ms
        self.g.value = self.g.value * 0.9 + x * u.nS
        I = self.g.value * (0.0 * u.mV - self.V.value)
        self.V.value = self.V.value + dt * I / (200.0 * u.pF) + dt / (20 * u.ms) * (
            -60.0 * u.mV - self.V.value)
        return self.V.value.to_decimal(u.mV)


class NoisyRate(brainsim.DynamicsModule):
    """Uses the global random stream inside its update."""

    def __init__(self, n=6):
        super().__init__(n)

    def init_state(self, batch_size=None):
        self.r = brainsim.HiddenState(jnp.zeros(self.batched_shape(batch_size)))

    def update(self, x):
        self.r.value = 0.8 * self.r.value + x + 0.1 * brainsim.random.randn(*self.r.value.shape)
        return self.r.value


MODELS = {"lif": LIF, "units": UnitNeuron, "noisy": NoisyRate}


def make(name, batch_size=None):
    return brainsim.init_states(MODELS[name](), batch_size=batch_size)


def snapshot(model):
    return {p: s.value for p, s in model.states().items()}
