"""Training spiking networks: an optax bridge, readout losses, metrics and spike regularisers,
recursive least squares (:class:`RLS`) for online linear readouts (reservoirs, FORCE), and
online training through time (:class:`OTTT`, with :class:`OTTTLayer` traces), whose memory
does not grow with the number of time steps.

Gradients flow through spikes by the surrogate functions of :mod:`brainsim.surrogate`
and through time by backpropagation through :func:`brainsim.for_loop` (``remat=True``
trades compute for memory).
"""
from ._losses import (accuracy, cross_entropy, l1_spike_total, l2_spikes_per_neuron,
                      max_membrane_cross_entropy, max_over_time, mean_membrane_cross_entropy,
                      mean_over_time, spike_count, spike_count_cross_entropy)
from ._latency import first_spike_current, first_spike_steps
from ._optimizer import Optimizer, make_train_step
from ._ottt import OTTT, OTTTLayer
from ._regularizers import firing_rate_penalty, membrane_band_penalty
from ._rls import RLS

__all__ = [
    "Optimizer", "make_train_step", "RLS", "OTTT", "OTTTLayer",
    "spike_count", "max_over_time", "mean_over_time",
    "cross_entropy", "spike_count_cross_entropy", "max_membrane_cross_entropy",
    "mean_membrane_cross_entropy", "accuracy",
    "l1_spike_total", "l2_spikes_per_neuron", "firing_rate_penalty", "membrane_band_penalty",
    "first_spike_steps", "first_spike_current",
]
