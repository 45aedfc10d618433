"""Populations written as model strings (:class:`NeuronGroup`), their views, and TimedArray."""
from ._neuron_group import NeuronGroup

__all__ = ["NeuronGroup"]
