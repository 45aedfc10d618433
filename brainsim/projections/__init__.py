"""Projections between populations: synapses aligned post or pre, voltage jumps, currents, delays."""
from ._align_post import AlignPostProj
from ._align_pre import AlignPreProj
from ._base import Projection, apply_comm
from ._delay import Delay, HeteroDelayCSR, delay_steps
from ._delta import CurrentProj, DeltaProj
from ._gap import GapJunction
from ._history import SpikeHistory

__all__ = ["Projection", "AlignPostProj", "AlignPreProj", "DeltaProj", "CurrentProj", "GapJunction", "Delay",
           "SpikeHistory", "HeteroDelayCSR", "delay_steps", "apply_comm"]
