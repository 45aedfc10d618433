"""The error types brainsim raises; see :mod:`brainsim._errors` for their docs."""

from ._errors import (BrainsimError, CheckpointError, StateValueError, TraceContextError,
                      UnitMismatchError)

__all__ = ["BrainsimError", "StateValueError", "UnitMismatchError", "TraceContextError",
           "CheckpointError"]
