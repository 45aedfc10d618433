"""Scale-out: networks split over the devices of a mesh, and over processes.

Populations are split along the neuron axis (:func:`shard_model`), connectivity by
postsynaptic neuron (:class:`ShardedCSR`), and each step the spikes are all-gathered bit-packed.
"""
from ._conn import ShardedCSR
from ._mesh import AXIS, make_mesh
from ._place import global_array, shard_model

__all__ = ["AXIS", "make_mesh", "shard_model", "global_array", "ShardedCSR"]
