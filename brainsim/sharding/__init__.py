"""Scale-out: networks split over the devices of a mesh, and over processes.

Populations are split along the neuron axis (:func:`shard_model`), connectivity by
postsynaptic neuron (:class:`ShardedCSR` for stored, :class:`ShardedJITC` for just-in-time
connectivity, :class:`ShardedHeteroDelayCSR` for a delay per synapse), and each step the
spikes are all-gathered bit-packed.
"""
from ._checkpoint import restore_sharded, save_sharded
from ._conn import ShardedCSR
from ._delay_conn import ShardedHeteroDelayCSR
from ._jitc_conn import ShardedJITC
from ._distributed import free_port, initialize, launch_local
from ._mesh import AXIS, make_mesh
from ._place import global_array, shard_model

__all__ = ["AXIS", "make_mesh", "shard_model", "global_array", "ShardedCSR", "ShardedJITC",
           "ShardedHeteroDelayCSR",
           "save_sharded", "restore_sharded",
           "initialize", "launch_local", "free_port"]
