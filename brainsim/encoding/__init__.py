"""Turn static inputs into spike trains (time axis first: ``[T, ...]``).

``poisson`` (rate coding), ``latency`` / ``current2firing_time`` (time to first
spike of a LIF neuron, as in the BrainPy Fashion-MNIST experiments) and
``direct`` (repeat the current). All are pure jax functions (jit-able).
"""
from ._encoders import current2firing_time, direct, latency, poisson

__all__ = ['poisson', 'latency', 'current2firing_time', 'direct']
