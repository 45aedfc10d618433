"""The few error types brainsim raises.

Every brainsim error derives from :class:`BrainsimError` and from the
builtin type that describes it best (``ValueError`` or ``TypeError``), so
``except ValueError`` keeps working for users who do not know ours.
"""

from __future__ import annotations

__all__ = [
    "BrainsimError",
    "StateValueError",
    "UnitMismatchError",
    "TraceContextError",
    "CheckpointError",
]


class BrainsimError(Exception):
    """Base class of every error raised by brainsim itself."""

    __module__ = "brainsim.errors"


class StateValueError(BrainsimError, ValueError):
    """A value written to a :class:`~brainsim.State` does not fit it.

    Raised when the new value has another shape, dtype or pytree structure
    than the state holds. The state keeps its old value.
    """

    __module__ = "brainsim.errors"


class UnitMismatchError(StateValueError):
    """A quantity has a physical unit other than the one expected."""

    __module__ = "brainsim.errors"


class TraceContextError(BrainsimError, ValueError):
    """A state was used in a way that breaks brainsim's tracing.

    For example a state created inside a traced function, or a JAX tracer
    that escaped into a state outside any brainsim transform.
    """

    __module__ = "brainsim.errors"


class CheckpointError(BrainsimError, ValueError):
    """A checkpoint could not be read, or does not match the model."""

    __module__ = "brainsim.errors"
