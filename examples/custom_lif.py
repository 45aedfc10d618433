"""A user-written LIF neuron: subclass DynamicsModule, run it with for_loop under jit.

Run: python examples/custom_lif.py
"""

import brainunit as u
import jax.numpy as jnp

import brainsim


class MyLIF(brainsim.DynamicsModule):
    """tau dV/dt = -(V - V_rest) + R I; spike and reset to V_reset at V >= V_th."""

    def __init__(self, n, tau=20. * u.ms, v_rest=-65. * u.mV, v_th=-50. * u.mV,
                 v_reset=-65. * u.mV, R=1. * u.ohm):
        super().__init__(n)
        self.tau, self.v_rest, self.v_th, self.v_reset, self.R = tau, v_rest, v_th, v_reset, R

    def init_state(self, batch_size=None):
        self.V = brainsim.HiddenState(jnp.full(self.batched_shape(batch_size), -65.) * u.mV)

    def update(self, I_ext=0. * u.amp):
        dt = brainsim.environ.get_dt()
        I = self.sum_current_inputs(I_ext, self.V.value)
        V = self.V.value + dt / self.tau * (self.v_rest - self.V.value + self.R * I)
        spike = V >= self.v_th
        self.V.value = u.math.where(spike, self.v_reset, V)
        return spike


def main() -> None:
    brainsim.environ.set(dt=0.1 * u.ms)
    lif = brainsim.init_states(MyLIF(5))
    currents = jnp.linspace(10., 30., 5) * u.mA

    @brainsim.jit
    def simulate(I):
        return brainsim.for_loop(lambda: lif(I), length=10_000, progress=True)

    counts = simulate(currents).sum(axis=0)
    for I, n in zip(currents.to_decimal(u.mA), counts):
        print(f"R*I = {I:5.1f} mV  ->  {int(n):3d} Hz")


if __name__ == "__main__":
    main()
