"""Synaptic kinetics, short-term plasticity, outputs and STDP."""
from ._base import Synapse
from ._kinetics import AMPA, NMDA, Alpha, DualExpon, Expon, GABAa
from ._outputs import COBA, CUBA, MgBlock, SynOut
from ._stdp import STDP
from ._stp import STD, STP

__all__ = ["Synapse", "Expon", "DualExpon", "Alpha", "AMPA", "GABAa", "NMDA", "STP", "STD",
           "SynOut", "COBA", "CUBA", "MgBlock", "STDP"]
