"""Object-oriented transforms: they find the states a function uses by tracing it."""

from ._control import cond, fori_loop, switch, while_loop
from ._grad import grad, value_and_grad
from ._jit import JittedFunction, jit
from ._loop import for_loop, scan
from ._progress import ProgressBar
from ._vmap import vmap

__all__ = ["jit", "JittedFunction", "grad", "value_and_grad", "for_loop", "scan", "vmap",
           "cond", "switch", "while_loop", "fori_loop", "ProgressBar"]
