"""Transmission delays: a ring buffer for one delay, a history gather for per-synapse delays."""
from __future__ import annotations

from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import environ
from .._checks import check_finite
from .._dynamics import DynamicsModule
from .._state import ShortTermState
from ..event import CSC, CSR

__all__ = ["Delay", "HeteroDelayCSR", "delay_steps"]


def delay_steps(delay: Any, who: str = "delay") -> np.ndarray:
    """``delay / dt`` as whole steps; a delay that is not a multiple of ``dt`` is rejected.

    Raises
    ------
    ValueError
        When ``delay`` is not a time, is negative, or is not a whole number of
        steps (the message gives the two nearest valid delays).
    """
    if not (isinstance(delay, u.Quantity) and delay.unit.has_same_dim(u.second)):
        raise ValueError(f"{who} must be a time quantity such as 1.5 * u.ms, got {delay!r}.")
    dt = environ.get_dt()
    with jax.ensure_compile_time_eval():
        ratio = np.asarray(u.maybe_decimal(delay / dt), np.float64)
    steps = np.round(ratio)
    if np.any(ratio < 0):
        raise ValueError(f"{who} must be >= 0, got {delay!r}.")
    bad = np.abs(ratio - steps) > 1e-4 * np.maximum(1., steps)
    if np.any(bad):
        r = float(np.asarray(ratio)[bad].flat[0])
        lo, hi = np.floor(r), np.ceil(r)
        raise ValueError(
            f"{who}={delay!r} is not a multiple of dt={dt} ({r:.4g} steps). Delays are not "
            f"rounded: give a multiple of dt, e.g. {lo * dt} or {hi * dt}.")
    return steps.astype(np.int64)


def _same_dt(a: Any, b: Any) -> bool:
    with jax.ensure_compile_time_eval():   # dt is static: compare numbers, not tracers
        ratio = float(np.asarray(u.maybe_decimal(a / b)))
    return abs(ratio - 1.) <= 1e-9


def check_dt_unchanged(module: Any, dt0: Any, what: Callable[[], str]) -> None:
    """Raise if ``dt`` differs from ``dt0``, the step the buffer of ``module`` was sized for.

    ``dt`` is a static setting, so under ``jit``/``for_loop`` this runs when
    the step is traced: a new ``dt`` recompiles, and the error comes then.
    """
    dt = environ.get_dt()
    if dt0 is not None and not _same_dt(dt, dt0):
        with jax.ensure_compile_time_eval():   # print numbers, not the tracers of a trace
            what, dt0, dt = what(), str(dt0), str(dt)
        raise ValueError(
            f"{type(module).__name__} '{module._path()}': {what} was sized at init_states for "
            f"dt={dt0}, but dt is now {dt}, so spikes would arrive at the wrong time "
            "(the buffer counts steps, not milliseconds). How to fix: call "
            "brainsim.init_states(model) again after changing dt.")


class Delay(DynamicsModule):
    r"""Delay a signal by a fixed number of steps with a ring buffer.

    ``update(x)`` stores ``x`` and returns the value stored ``D = delay / dt``
    steps earlier (zeros at the start): :math:`y_n = x_{n - D}`. Memory is
    ``(D + 1) x size``; each step writes and reads one row.

    Parameters
    ----------
    in_size : int or tuple of int
    delay : Quantity (time)
        A multiple of ``dt`` (others are rejected, see :func:`delay_steps`).
        ``dt`` is read when the states are initialised; running at another
        ``dt`` raises a ``ValueError`` until ``init_states`` is called again.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     d = brainsim.init_states(brainsim.projections.Delay(1, 2. * u.ms))
    ...     y = brainsim.for_loop(lambda x: d(x), jnp.arange(5.)[:, None])
    >>> y[:, 0].tolist()
    [0.0, 0.0, 0.0, 1.0, 2.0]
    """

    __module__ = "brainsim.projections"

    def __init__(self, in_size: Any, delay: Any, name: str | None = None):
        super().__init__(in_size, name=name)
        self.delay = delay

    def init_state(self, batch_size: int | None = None) -> None:
        self.steps = int(delay_steps(self.delay))
        # a zero delay keeps no buffer, so it does not depend on dt
        object.__setattr__(self, "_bs_dt", environ.get_dt() if self.steps else None)
        shape = (self.steps + 1,) + self.batched_shape(batch_size)
        self.buffer = ShortTermState(jnp.zeros(shape, jnp.float32))
        self.pointer = ShortTermState(jnp.zeros((), jnp.int32))

    def update(self, x: Any) -> jax.Array:
        check_dt_unchanged(self, self._bs_dt, lambda: f"the ring buffer of the {self.delay} "
                           f"delay ({self.steps} steps)")
        if self.steps == 0:
            return jnp.asarray(x, jnp.float32)
        L = self.steps + 1
        p = self.pointer.value
        buf = jax.lax.dynamic_update_index_in_dim(self.buffer.value, jnp.asarray(x, jnp.float32),
                                                  p, axis=0)
        self.buffer.value = buf
        self.pointer.value = (p + 1) % L
        return jax.lax.dynamic_index_in_dim(buf, (p + 1) % L, axis=0, keepdims=False)


class HeteroDelayCSR(DynamicsModule):
    r"""A CSR connection whose every synapse has its own delay.

    Call it on presynaptic spikes; it returns the postsynaptic input

    .. math:: y_j(n) = \sum_{k:\ \mathrm{post}(k) = j} w_k\, s_{\mathrm{pre}(k)}(n - d_k)

    It keeps the last ``max(d) + 1`` spike vectors and visits every synapse
    each step (cost O(synapses), not O(active synapses)); use it only when
    delays really differ per synapse. Use it as the ``comm`` of a projection.

    Parameters
    ----------
    conn : brainsim.event.CSR
        Rows are presynaptic neurons.
    delays : Quantity (time), shape ``(nse,)`` or scalar
        Per-synapse delays in CSR order; multiples of ``dt``, which is read
        when the states are initialised (as for :class:`Delay`).

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp, numpy as np
    >>> from brainsim import event
    >>> M = event.CSR.from_coo([0, 0], [0, 1], np.float32(1.), shape=(1, 2))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     c = brainsim.init_states(brainsim.projections.HeteroDelayCSR(M, [1., 3.] * u.ms))
    ...     y = brainsim.for_loop(lambda s: c(s), jnp.array([[1.], [0.], [0.], [0.], [0.]]))
    >>> np.asarray(y).tolist()
    [[0.0, 0.0], [1.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """

    __module__ = "brainsim.projections"

    def __init__(self, conn: Any, delays: Any, name: str | None = None):
        if not isinstance(conn, CSR) or isinstance(conn, CSC):
            raise TypeError(f"HeteroDelayCSR: conn must be a brainsim.event.CSR (rows = "
                            f"presynaptic neurons), got {type(conn).__name__}. How to fix: "
                            "event.CSR.from_coo(pre, post, weights, shape=(n_pre, n_post)).")
        check_finite("HeteroDelayCSR", conn=conn)
        super().__init__(conn.shape[1], name=name)
        self.conn = conn
        self.delays = delays
        self.n_pre = conn.shape[0]
        nse = conn.indices.shape[0]
        self.rows = jnp.repeat(jnp.arange(self.n_pre, dtype=jnp.int32), jnp.diff(conn.indptr),
                               total_repeat_length=nse)

    def init_state(self, batch_size: int | None = None) -> None:
        d = delay_steps(self.delays, "delays")
        nse = self.rows.shape[0]
        if d.ndim and d.shape != (nse,):
            raise ValueError(f"HeteroDelayCSR: delays must be a scalar or shape ({nse},) (one per "
                             f"synapse in CSR order), got {d.shape}.")
        self.d = jnp.asarray(np.broadcast_to(d, (nse,)), jnp.int32)
        self.L = int(d.max()) + 1 if d.size else 1
        object.__setattr__(self, "_bs_dt", environ.get_dt() if self.L > 1 else None)
        self.history = ShortTermState(jnp.zeros((self.L, self.n_pre), jnp.float32))
        self.pointer = ShortTermState(jnp.zeros((), jnp.int32))

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_pre, n_post)``, as for a matrix ``comm``."""
        return tuple(self.conn.shape)

    @property
    def unit(self) -> Any:
        """The unit of the weights, hence of the input this returns."""
        return self.conn.unit

    def update(self, spike: Any) -> Any:
        check_dt_unchanged(self, self._bs_dt, lambda: f"the spike history ({self.L} steps)")
        p = self.pointer.value
        hist = jax.lax.dynamic_update_index_in_dim(self.history.value,
                                                   jnp.asarray(spike, jnp.float32), p, axis=0)
        self.history.value = hist
        self.pointer.value = (p + 1) % self.L
        s = hist[(p - self.d) % self.L, self.rows]
        w = self.conn.data
        y = jax.ops.segment_sum(s * w, self.conn.indices, num_segments=self.conn.shape[1])
        unit = self.conn.unit
        return y if unit is None or unit.is_unitless else u.Quantity(y, unit=unit)
