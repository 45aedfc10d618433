"""Monitors: what to record during a run, read at run start, turned into records after it.

Recording-time convention (Brian2's): a :class:`StateMonitor` records the
state at the start of each step, before the update, so ``values[k]`` holds
at ``t[k]``; :class:`SpikeMonitor` and :class:`RateMonitor` record what the
update of step ``k`` emitted, stamped with the start of that step.
"""
from __future__ import annotations

import math
import os
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import environ
from .._module import Module
from .._state import State
from ..event._active import prefix_count
from ._records import Rate, SpikeRecord, Trace

__all__ = ["SpikeMonitor", "StateMonitor", "RateMonitor"]

_WORD = 32               # spikes per recorded event word
_RATE_GUESS_HZ = 50.     # the first run's capacity guess (twice that fits)
_MIN_CAPACITY = 64


def _current(state: State) -> State:
    """The state now at ``state``'s place in its model: ``init_states`` replaces state objects."""
    owner = state._owner() if state._owner is not None else None
    if owner is None or state._attr is None:
        return state
    obj: Any = owner
    for part in state._attr.split("."):
        try:
            obj = obj[int(part)] if isinstance(obj, (list, tuple)) else (
                obj[part] if isinstance(obj, dict) else getattr(obj, part))
        except (AttributeError, KeyError, IndexError, ValueError):
            return state
    return obj if isinstance(obj, type(state)) else state


def _getter(who: str, target: Any, attr: str) -> Callable[[], Callable[[], Any]]:
    """A function that, called at run start, returns the reader of ``target``'s value."""
    if isinstance(target, State):
        def resolve() -> Callable[[], Any]:
            s = _current(target)
            return lambda: s.value
        return resolve
    if isinstance(getattr(target, attr, None), State):
        # looked up each time: init_states may have replaced it
        return lambda: (lambda: getattr(target, attr).value)
    if isinstance(target, Module):
        # calling a module would advance it: it is not a reader of a value
        raise TypeError(f"{who}: {type(target).__name__} has no state {attr!r} to record; give "
                        "one of its States (e.g. neuron.V) or a callable returning the value.")
    if callable(target):
        return lambda: target
    raise TypeError(f"{who}: cannot record from {target!r}: give a neuron, a State or a callable "
                    "returning the value to record.")


def _spec(value: Any) -> tuple[tuple, np.dtype, Any]:
    mant, unit = u.split_mantissa_unit(value)
    return tuple(np.shape(mant)), np.dtype(jnp.asarray(mant).dtype), unit


class _Monitor:
    every = 1
    events = False   # True: carries an event buffer (init/step/capacity), see SpikeMonitor
    when = "end"     # recorded after the step's update ("start": before it)
    path = None

    def prepare(self) -> None:
        """Called when a run starts: resolve the target, check it, learn the record's shape."""
        self._get = self._resolve()
        self.shape, self.dtype, self.unit = _spec(self.record())

    @property
    def row_bytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    def record(self) -> Any:
        raise NotImplementedError

    def capacity_bytes(self, rows: int) -> int:
        return rows * self.row_bytes


class SpikeMonitor(_Monitor):
    """Record the spikes of a population, event-driven: only the neurons that fired.

    The spikes emitted during step ``k`` of a run are stamped ``t0 + k * dt``,
    the start of that step (as in Brian2), where ``t0`` is the model's time when
    the run started.

    Each step packs the spikes into 32-bit words and appends the nonzero words
    (with their positions) to one flat event buffer, so the record grows with
    the number of spikes, not with ``steps x N``. The buffer's capacity is
    chosen from ``N``, ``dt`` and a rate guess of 50 Hz (twice that as margin);
    a run whose spikes do not fit is run again from its start states with the
    capacity it needed, so no spike is ever lost, and the monitor keeps the
    larger capacity for its next runs.

    Parameters
    ----------
    target : neuron, State or callable
        Where to read the spikes (``target.spike`` for a neuron).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> from brainsim import neurons, runner
    >>> brainsim.environ.set(dt=0.1 * u.ms)
    >>> n = brainsim.init_states(neurons.LIF(3))
    >>> res = runner.run(n, 50. * u.ms, inputs=lambda t: 20. * u.mV, progress=False,
    ...                  monitors={'spk': runner.SpikeMonitor(n)})
    >>> res['spk'].count > 0
    True
    """

    __module__ = "brainsim.runner"
    events = True

    def __init__(self, target: Any):
        self._resolve = _getter("SpikeMonitor", target, "spike")
        self._density: float | None = None   # nonzero words per step a run needed

    def prepare(self) -> None:
        self._get = self._resolve()
        self._n = int(np.prod(np.shape(self._get())))
        self._words = max(1, -(-self._n // _WORD))
        self._dt_s = float(environ.get_dt().to_decimal(u.second))
        # the per-step row is the number of event words of the step
        self.shape, self.dtype, self.unit = (), np.dtype(np.int32), None

    def capacity(self, steps: int) -> int:
        """Event words the buffer holds for a run of ``steps``: a power of two, at most all words."""
        per_step = self._density if self._density is not None else \
            min(self._words, self._n * _RATE_GUESS_HZ * self._dt_s)
        want = max(_MIN_CAPACITY, math.ceil(2. * steps * per_step))
        return int(min(1 << (want - 1).bit_length(), steps * self._words))

    def grow(self, needed: int, steps: int) -> int:
        """The capacity for a run of ``steps`` that produced ``needed`` event words."""
        self._density = max(self._density or 0., needed / steps)
        return max(self.capacity(steps), needed)

    def capacity_bytes(self, steps: int) -> int:
        return self.capacity(steps) * 8 + steps * 4

    def init(self, capacity: int) -> tuple:
        return jnp.zeros((capacity, 2), jnp.int32), jnp.zeros((), jnp.int32)

    def step(self, carry: tuple) -> tuple[tuple, Any]:
        """Append this step's nonzero spike words to the buffer; return it and their number."""
        buf, count = carry
        s = jnp.asarray(self._get())
        s = (s.reshape(-1) if s.ndim != 1 else s) != 0
        # bits -> 32-bit words by two exact float32 products (each half is below 2**16):
        # a tiny matmul is far cheaper on XLA:CPU than shifts and ors over N elements
        x = jnp.pad(s, (0, self._words * _WORD - s.shape[0])).reshape(self._words, 2, 16)
        half = (x.astype(jnp.float32) @ (2. ** jnp.arange(16, dtype=jnp.float32))).astype(jnp.uint32)
        word = half[:, 0] | (half[:, 1] << 16)
        nz = word != 0
        pos = count + prefix_count(nz) - 1                     # order kept: (word, bit) ascending
        rows = jnp.stack([jnp.arange(self._words, dtype=jnp.int32),
                          jax.lax.bitcast_convert_type(word, jnp.int32)], 1)
        # words past the capacity are dropped but still counted: the runner sees the overflow
        buf = buf.at[jnp.where(nz, pos, buf.shape[0])].set(rows, mode="drop")
        k = pos[-1] + 1 - count
        return (buf, count + k), k

    def finish(self, data: Any, t: Any, dt: Any) -> SpikeRecord:
        ev, per_step = data
        ev = np.asarray(ev, np.int32).reshape(-1, 2)
        # unpack only the recorded words; np.nonzero walks row-major, so the spikes come out
        # sorted by (step, neuron), as from a dense raster
        bits = np.unpackbits(ev[:, 1].astype("<i4").view(np.uint8).reshape(-1, 4), axis=1,
                             bitorder="little")
        k, bit = np.nonzero(bits)
        idx = ev[k, 0].astype(np.int64) * _WORD + bit
        steps = np.repeat(np.arange(len(per_step)), np.asarray(per_step))[k]
        return SpikeRecord(i=idx, t=t[steps], n=self._n, run_t=t, steps=steps)


class StateMonitor(_Monitor):
    """Record a state variable at the start of every ``every``-th step.

    The monitor reads the state before the step's update (Brian2's convention),
    so ``values[0]`` is the state the run starts from and ``values[k]`` holds
    at ``t[k]``. It records at the steps ``i`` of the model's clock with
    ``i % every == 0``: a first run of ``n`` steps gives ``ceil(n / every)``
    samples at ``t[k] = k * every * dt`` (also when ``n`` is not a multiple of
    ``every``), and a run that continues the clock carries on with the same
    grid, so two runs record what one long run records.

    Parameters
    ----------
    target : State, neuron attribute getter or callable
        e.g. ``E.V`` (a State; if ``init_states`` replaces it, the run records
        the new one) or ``lambda: E.V.value``.
    indices : sequence of int, optional
        The neurons to keep (positions along the last axis, ``0 <= i < N``;
        all by default).
    every : int
        Record one step in ``every`` (decimation).
    path : str or PathLike, optional
        Stream the record to this HDF5 file during the run instead of keeping
        it in memory: the run goes in chunks, each written out with one host
        transfer, so the record is limited by the disk, not by RAM. Each run
        writes the file anew; the returned :class:`Trace` reads it lazily.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> from brainsim import neurons, runner
    >>> brainsim.environ.set(dt=1. * u.ms)
    >>> n = brainsim.init_states(neurons.LIF(2, V_rest=0. * u.mV, V_reset=0. * u.mV,
    ...                                      V_th=100. * u.mV, tau=20. * u.ms))
    >>> res = runner.run(n, 3. * u.ms, inputs=lambda t: 20. * u.mV, progress=False,
    ...                  monitors={'V': runner.StateMonitor(n.V, [0])})
    >>> v = res['V'].values[:, 0].to_decimal(u.mV)
    >>> res['V'].t.to_decimal(u.ms).tolist(), [round(float(x), 3) for x in v]
    ([0.0, 1.0, 2.0], [0.0, 0.975, 1.903])
    """

    __module__ = "brainsim.runner"
    when = "start"

    def __init__(self, target: Any, indices: Any = None, every: int = 1,
                 path: str | os.PathLike | None = None):
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"StateMonitor: every must be a positive int, got {every!r}.")
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"StateMonitor: path must be a file name such as 'V.h5' (str or "
                            f"PathLike) or None, got {type(path).__name__}.")
        self._resolve = _getter("StateMonitor", target, "value")
        if indices is not None:
            idx = np.asarray(indices)
            if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
                raise ValueError(f"StateMonitor: indices must be a 1-D sequence of ints, got "
                                 f"{indices!r}.")
            indices = idx.astype(np.int32)
        self.indices = indices
        self.every = int(every)
        self.path = None if path is None else os.fspath(path)

    def prepare(self) -> None:
        self._get = self._resolve()
        if self.path is not None:
            folder = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(folder):
                raise ValueError(f"StateMonitor: cannot write path={self.path!r}: the folder "
                                 f"{folder!r} does not exist; create it or give another path.")
        if self.indices is not None:
            shape = np.shape(u.get_mantissa(self._get()))
            n = int(shape[-1]) if shape else 0
            bad = self.indices[(self.indices < 0) | (self.indices >= n)]
            if bad.size:
                raise ValueError(
                    f"StateMonitor: indices {bad.tolist()} are out of range for a variable of "
                    f"{n} neurons; give indices with 0 <= i < {n}.")
        self.shape, self.dtype, self.unit = _spec(self.record())

    def record(self) -> Any:
        v = self._get()
        return v if self.indices is None else v[..., self.indices]

    def finish(self, data: Any, t: Any, dt: Any) -> Trace:
        if self.path is not None:
            return Trace(t, path=self.path, unit=self.unit)
        return Trace(t, u.maybe_decimal(u.Quantity(data, unit=self.unit)))


class RateMonitor(_Monitor):
    """Record the population rate: the fraction of neurons that spiked in a step, over ``dt``.

    ``rate[k]`` is the rate during the step that starts at ``t[k]``.
    """

    __module__ = "brainsim.runner"

    def __init__(self, target: Any):
        self._resolve = _getter("RateMonitor", target, "spike")

    def record(self) -> Any:
        return jnp.mean(jnp.asarray(self._get(), jnp.float32))

    def finish(self, data: Any, t: Any, dt: Any) -> Rate:
        return Rate(t, np.asarray(data) / float(dt.to_decimal(u.second)) * u.Hz)
