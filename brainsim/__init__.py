"""brainsim: a differentiable, object-oriented brain simulator on JAX.

The package is layered; each layer only uses the ones above it:

- states and modules: :class:`State`, :class:`Module`, :class:`DynamicsModule`
- settings and randomness: :mod:`brainsim.environ`, :mod:`brainsim.random`
- object-oriented transforms: :func:`jit`, :func:`grad`, :func:`for_loop`, :func:`vmap`,
  and control flow that carries states: :func:`cond`, :func:`switch`, :func:`while_loop`,
  :func:`fori_loop`
- checkpoints: :func:`save_checkpoint`, :func:`load_checkpoint`
- scale-out over devices and processes: :mod:`sharding`
- numerics: :mod:`integrators`, :mod:`surrogate`
- event-driven operators and layers: :mod:`event`, :mod:`layers`
- models: :mod:`neurons`, :mod:`synapses`, :mod:`projections`, :mod:`init`
- models written as Brian strings: :mod:`equations` (parsing, units, code generation),
  :mod:`groups` (:class:`NeuronGroup`, :class:`Synapses`, :class:`TimedArray`, subgroups)
- running and looking: :func:`run`, :mod:`runner`, :mod:`plot`
- training: :mod:`train`, :mod:`datasets`, :mod:`encoding`
- fitting models to recordings: :mod:`fitting`
"""

from . import environ, random
from . import datasets, encoding, event, integrators, layers, surrogate
from . import init, neurons, plot, projections, runner, synapses, train
from . import equations, groups
from . import fitting, sharding
from .groups import NeuronGroup, Synapses, TimedArray
from ._dynamics import DynamicsModule
from ._errors import (BrainsimError, CheckpointError, StateValueError, TraceContextError,
                      UnitMismatchError)
from ._functional import merge_states, split_states
from ._module import Module, init_states, reset_states
from ._state import HiddenState, LongTermState, ParamState, ShortTermState, State
from .checkpoint import load_checkpoint, save_checkpoint
from .transforms import (cond, for_loop, fori_loop, grad, jit, scan, switch, value_and_grad,
                         vmap, while_loop)
from .runner import Runner, run
from . import errors  # noqa: E402  (the public home of the error types)

__version__ = "0.1.0"

__all__ = [
    "State", "HiddenState", "ParamState", "ShortTermState", "LongTermState",
    "Module", "DynamicsModule", "init_states", "reset_states", "split_states", "merge_states",
    "jit", "grad", "value_and_grad", "for_loop", "scan", "vmap",
    "cond", "switch", "while_loop", "fori_loop",
    "save_checkpoint", "load_checkpoint",
    "environ", "random", "errors", "integrators", "surrogate", "datasets", "encoding",
    "event", "layers", "init", "neurons", "synapses", "projections", "runner", "plot", "train",
    "run", "Runner", "equations", "groups", "fitting", "sharding",
    "NeuronGroup", "Synapses", "TimedArray",
    "BrainsimError", "StateValueError", "UnitMismatchError", "TraceContextError",
    "CheckpointError",
]
