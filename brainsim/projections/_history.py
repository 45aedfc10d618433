"""One ring buffer of a population's spikes, read at several delays by several projections."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ
from .._dynamics import DynamicsModule
from .._state import _TRACE_STACK, ShortTermState
from ._delay import check_dt_unchanged, delay_steps

__all__ = ["SpikeHistory"]


class SpikeHistory(DynamicsModule):
    r"""The spikes of one population over its last steps, shared by its delayed projections.

    ``projection(..., delay=d)`` keeps a ring buffer of its own, so ``P``
    projections out of one population hold ``P`` copies of its spikes (the
    29-area macaque model: 536 buffers for 29 populations). A history keeps one
    buffer of ``max_delay / dt + 1`` rows, written once a step, and
    ``history.at(d)`` is a spike source for ``pre=`` that reads it ``d`` back:
    :math:`s(n - d / dt)`, the spikes a projection with ``delay=d`` delivers
    (zeros before the run had that many steps).

    Call the history once in each step, *before* the projections that read it
    (it stores the spikes the population emitted in the previous step, as a
    projection with ``delay=`` reads them when it is called). A traced step that
    reads a tap before the history was called in it raises a ``ValueError``.

    Parameters
    ----------
    pre : neuron population
        Anything with ``get_spike()`` and ``varshape``.
    max_delay : Quantity (time)
        The longest delay any tap will read; a multiple of ``dt``, read when the
        states are initialised (as for :class:`Delay`).

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons, projections
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     src = brainsim.init_states(neurons.SpikeTimeGenerator(1, [0], [0.] * u.ms))
    ...     h = brainsim.init_states(projections.SpikeHistory(src, 3. * u.ms))
    ...     def step():
    ...         h()                        # the spikes of the last step into the buffer
    ...         out = h.at(2. * u.ms).get_spike()
    ...         src()
    ...         return out
    ...     y = brainsim.for_loop(step, length=6)
    >>> y[:, 0].tolist()
    [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    """

    __module__ = "brainsim.projections"

    def __init__(self, pre: Any, max_delay: Any, name: str | None = None):
        if not (hasattr(pre, "get_spike") and hasattr(pre, "varshape")):
            raise TypeError(f"SpikeHistory: pre must be a neuron population (with get_spike() "
                            f"and varshape), got {type(pre).__name__}.")
        if not (isinstance(max_delay, u.Quantity) and max_delay.unit.has_same_dim(u.second)):
            raise ValueError(f"SpikeHistory: max_delay must be a time such as 20. * u.ms, got "
                             f"{max_delay!r}.")
        super().__init__(pre.varshape, name=name)
        object.__setattr__(self, "_bs_pre", pre)     # referenced, not owned
        self.max_delay = max_delay

    def init_state(self, batch_size: int | None = None) -> None:
        self.steps = int(delay_steps(self.max_delay, "SpikeHistory: max_delay"))
        object.__setattr__(self, "_bs_dt", environ.get_dt())
        shape = (self.steps + 1,) + self.batched_shape(batch_size)
        self.buffer = ShortTermState(jnp.zeros(shape, jnp.float32))
        self.pointer = ShortTermState(jnp.zeros((), jnp.int32))

    def update(self) -> None:
        check_dt_unchanged(self, self._bs_dt, lambda: f"the spike history of {self.steps} steps")
        p = self.pointer.value
        spike = jnp.asarray(self._bs_pre.get_spike(), jnp.float32)
        self.buffer.value = jax.lax.dynamic_update_index_in_dim(self.buffer.value, spike, p, 0)
        self.pointer.value = (p + 1) % (self.steps + 1)

    def at(self, delay: Any) -> "_Tap":
        """A spike source (``get_spike()``) reading this history ``delay`` back."""
        if not (isinstance(delay, u.Quantity) and delay.unit.has_same_dim(u.second)):
            raise ValueError(f"SpikeHistory.at: delay must be a time such as 2. * u.ms, got "
                             f"{delay!r}.")
        return _Tap(self, delay)

    def _read(self, delay: Any) -> jax.Array:
        d = int(delay_steps(delay, "SpikeHistory.at: delay"))
        if d > self.steps:
            raise ValueError(f"SpikeHistory '{self._path()}': delay {delay} is {d} steps, longer "
                             f"than its max_delay {self.max_delay} ({self.steps} steps). How to "
                             "fix: build the history with max_delay >= every delay read.")
        if _TRACE_STACK and not any(t.was_written(self.pointer) for t in _TRACE_STACK):
            raise ValueError(f"SpikeHistory '{self._path()}' was read before it was called in "
                             "this step, so it would give the spikes one step late. How to fix: "
                             "call the history at the start of each step, before the "
                             "projections that read it.")
        # the newest row (this step's write) is at pointer - 1
        row = (self.pointer.value - 1 - d) % (self.steps + 1)
        return jax.lax.dynamic_index_in_dim(self.buffer.value, row, 0, keepdims=False)


class _Tap:
    """``history.at(delay)``: the population's spikes ``delay`` ago, as a ``pre=`` source."""

    def __init__(self, history: SpikeHistory, delay: Any):
        self.history, self.delay = history, delay
        self.varshape = history.varshape

    def get_spike(self) -> jax.Array:
        return self.history._read(self.delay)

    def __repr__(self) -> str:
        return f"SpikeHistory.at({self.delay})"
