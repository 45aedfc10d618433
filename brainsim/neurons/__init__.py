"""Spiking neuron models, a readout, and spike/current sources."""
from ._base import Neuron
from ._expif import AdEx, ExpIF, QuaIF
from ._gif import GIF
from ._hh import HH
from ._inputs import (PoissonSpike, SpikeTimeGenerator, constant_input, ramp_input,
                      section_input)
from ._izh import Izhikevich
from ._lif import ALIF, IF, LIF, LIFRef
from ._readout import LeakyIntegrator

__all__ = ["Neuron", "IF", "LIF", "LIFRef", "ALIF", "ExpIF", "AdEx", "QuaIF", "GIF", "Izhikevich",
           "HH", "LeakyIntegrator", "PoissonSpike", "SpikeTimeGenerator", "constant_input",
           "section_input", "ramp_input"]
