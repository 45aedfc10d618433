"""Populations written as model strings (:class:`NeuronGroup`), subgroups and TimedArray."""
from ._neuron_group import NeuronGroup
from ._subgroup import SliceView, Subgroup
from ._synapses import Synapses
from ._timed_array import TimedArray

__all__ = ["NeuronGroup", "Subgroup", "SliceView", "Synapses", "TimedArray"]
