"""Monitors: what to record during a run, read at run start, turned into records after it.

Recording-time convention (Brian2's): a :class:`StateMonitor` records the
state at the start of each step, before the update, so ``values[k]`` holds
at ``t[k]``; :class:`SpikeMonitor` and :class:`RateMonitor` record what the
update of step ``k`` emitted, stamped with the start of that step.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import brainunit as u
import jax.numpy as jnp
import numpy as np

from .._module import Module
from .._state import State
from ._records import Rate, SpikeRecord, Trace

__all__ = ["SpikeMonitor", "StateMonitor", "RateMonitor"]

_WORD_BITS = 64   # each step's spikes fill whole 64-bit words, decoded a word at a time


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


def _split_parts(value: Any) -> int:
    """In how many parts a sharded 1-D value is split along its axis (1 if not split)."""
    mant = u.get_mantissa(value)
    spec = getattr(getattr(mant, "sharding", None), "spec", None)
    if spec is None or np.ndim(mant) != 1 or not len(spec) or spec[0] is None:
        return 1
    names = spec[0] if isinstance(spec[0], tuple) else (spec[0],)
    return int(np.prod([mant.sharding.mesh.shape[a] for a in names]))


def _spec(value: Any) -> tuple[tuple, np.dtype, Any]:
    mant, unit = u.split_mantissa_unit(value)
    return tuple(np.shape(mant)), np.dtype(jnp.asarray(mant).dtype), unit


class _Monitor:
    every = 1
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
        """The value to store for the current step; called inside the compiled loop.

        A subclass returns an array (or quantity) of the same shape and dtype
        every step: the runner stacks them into the record that
        :meth:`finish` receives.
        """
        raise TypeError(f"{type(self).__name__} must define record() returning this step's "
                        "value (an array or quantity of the same shape every step).")

    def finish(self, data: Any, t: Any, dt: Any) -> Any:
        """Turn the stacked per-step values into the record the run returns.

        Parameters
        ----------
        data : numpy array, shape ``(len(t),) + shape``
            What :meth:`record` returned at each recorded step, on the host.
        t : Quantity (ms), shape ``(len(t),)``
            The times of the recorded steps (the start of each step).
        dt : Quantity (time)
            The time step of the run.
        """
        raise TypeError(f"{type(self).__name__} must define finish(data, t, dt) turning the "
                        "stacked per-step values into the record the run returns.")


class SpikeMonitor(_Monitor):
    """Record the spikes of a population, every step, 8 spikes per byte.

    The spikes emitted during step ``k`` of a run are stamped ``t0 + k * dt``,
    the start of that step (as in Brian2), where ``t0`` is the model's time when
    the run started.

    Each step stores its spikes as bits (``N / 8`` bytes, rounded up to whole
    64-bit words; split over ``P`` devices, that for each part of ``N / P``
    neurons); after the run only the words that hold a spike are decoded
    into the events of the :class:`SpikeRecord`, so decoding costs in proportion
    to the spikes, not to ``steps x N``. No spike is ever lost, at any activity.

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

    _parts = 1

    def __init__(self, target: Any):
        self._resolve = _getter("SpikeMonitor", target, "spike")

    def prepare(self) -> None:
        """Called when a run starts: find the spikes (after any ``init_states``), note N."""
        self._get = self._resolve()
        self._n = int(np.prod(np.shape(self._get())))
        # spikes split over devices are packed per part, so that no step moves them
        self._parts = _split_parts(self._get())
        self.shape, self.dtype, self.unit = _spec(self.record())

    def record(self) -> Any:
        """This step's spikes packed 8 per byte: ``uint8`` of shape ``(P * M,)``.

        The ``N`` neurons come in ``P`` parts of ``n = N / P`` (``P`` is 1 unless the spikes
        are split over devices; then each device packs its own part, and no step moves them).
        Each part packs its neurons as bit planes into ``M = ceil(n / 64) * 8`` bytes: bit
        ``k`` of the part's byte ``j`` is its neuron ``k * M + j``.
        """
        s = jnp.asarray(self._get())
        s = (s.reshape(-1) if s.ndim != 1 else s) != 0
        return _planes(s.reshape(self._parts, -1)).reshape(-1)

    def finish(self, data: Any, t: Any, dt: Any) -> SpikeRecord:
        """Decode the packed rows into a :class:`SpikeRecord` of events sorted by (step, neuron)."""
        steps, idx = self._decode(data, len(t))
        return SpikeRecord(i=idx, t=t[steps], n=self._n, run_t=t, steps=steps)

    def arrays(self, data: Any, t_ms: np.ndarray, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's packed rows as plain arrays to draw: (event times in ms, neuron indices)."""
        steps, idx = self._decode(data, len(t_ms))
        return t_ms[steps], idx

    def _decode(self, data: Any, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
        """The (step, neuron) of every spike in ``n_steps`` packed rows, sorted by both."""
        P = self._parts
        data = np.ascontiguousarray(data, np.uint8).reshape(n_steps * P, -1)
        M = data.shape[1]
        rows, pos = _set_bits(data)
        # plane pos % 8 of byte pos // 8 of part rows % P
        idx = (rows % P) * (self._n // P) + (pos % 8) * M + pos // 8
        steps = rows // P
        # Within a step the events come in byte order, not neuron order: sort by (step,
        # neuron). The keys are sorted by step already, and the stable sort (timsort) is
        # close to linear on such runs.
        order = np.argsort(steps * np.int64(self._n) + idx, kind="stable")
        return steps[order], idx[order]


def _planes(s: Any) -> Any:
    """Bool rows ``(P, n)`` as ``uint8`` bit planes ``(P, M)``, ``M = ceil(n / 64) * 8``.

    Bit ``k`` of byte ``j`` of a row is its entry ``k * M + j``. Planes, not neighbours, in a
    byte: each output byte ORs 8 inputs M apart, slices of the spikes that XLA:CPU fuses with
    the test ``!= 0`` and the write into the record, one thunk in all. Packing neighbours
    needs a reduction over 8 (a matmul against the bit weights, or a reduce) and a padded
    copy, thunks of their own: ~2.8 against ~0.8 us a step at 4,000 neurons
    (benchmarks/RESULTS.md, "Dec 3 2026"). The slices run along a row, so a part split over
    devices packs on its own device.
    """
    P, n = s.shape
    if n == 0:              # a population of 0 neurons records 0 bytes
        return jnp.zeros((P, 0), jnp.uint8)
    M = -(-n // _WORD_BITS) * 8
    for k in range(8):
        a, b = k * M, min((k + 1) * M, n)
        if a >= n:          # a small population fills fewer than 8 planes
            break
        plane = s[:, a:b].astype(jnp.uint8)
        if b - a < M:
            plane = jnp.pad(plane, ((0, 0), (0, M - (b - a))))
        out = plane if k == 0 else out | (plane << k)
    return out


def _set_bits(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, bit position in the row) of every set bit of ``data``, in row-major order.

    ``data`` is ``uint8`` rows of whole 64-bit words; bit ``b`` of byte ``j`` is position
    ``8 j + b``. Only the words that hold a bit are looked into, then only their non-zero
    bytes are unpacked, so the work follows the spikes. The scans go through a boolean
    ``!= 0`` first: ``flatnonzero`` on it is 3-5x faster than on the integers themselves.
    """
    nb = data.shape[1]
    words = data.view("<u8").reshape(-1)
    hit = np.flatnonzero(words != 0)
    by = words[hit].view(np.uint8)
    hb = np.flatnonzero(by != 0)
    byte = hit[hb >> 3] * 8 + (hb & 7)                   # index of each non-zero byte in data
    bits = np.unpackbits(by[hb][:, None], axis=1, bitorder="little")
    flat = np.flatnonzero(bits.view(bool).reshape(-1))
    byte = byte[flat >> 3]
    return byte // nb, (byte % nb) * 8 + (flat & 7)


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
        """Called when a run starts: find the state (after any ``init_states``) and check
        ``path`` and ``indices`` against it, before anything runs."""
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
        """The variable at the start of this step, restricted to ``indices`` (last axis)."""
        v = self._get()
        return v if self.indices is None else v[..., self.indices]

    def finish(self, data: Any, t: Any, dt: Any) -> Trace:
        """A :class:`Trace` of the values (with their unit), or of the streamed file."""
        if self.path is not None:
            return Trace(t, path=self.path, unit=self.unit)
        return Trace(t, u.maybe_decimal(u.Quantity(data, unit=self.unit)))

    def arrays(self, data: Any, t_ms: np.ndarray, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's samples as plain arrays to draw: (times in ms, values in the unit)."""
        return t_ms, np.asarray(data)


class RateMonitor(_Monitor):
    """Record the population rate: the fraction of neurons that spiked in a step, over ``dt``.

    ``rate[k]`` is the rate during the step that starts at ``t[k]``.
    """

    __module__ = "brainsim.runner"

    def __init__(self, target: Any):
        self._resolve = _getter("RateMonitor", target, "spike")

    def record(self) -> Any:
        """The fraction of the population that spiked in this step (float32 scalar)."""
        return jnp.mean(jnp.asarray(self._get(), jnp.float32))

    def finish(self, data: Any, t: Any, dt: Any) -> Rate:
        """A :class:`Rate` in Hz: the fractions divided by ``dt``."""
        return Rate(t, np.asarray(data) / float(dt.to_decimal(u.second)) * u.Hz)

    def arrays(self, data: Any, t_ms: np.ndarray, dt_ms: float) -> tuple[np.ndarray, np.ndarray]:
        """A chunk's rates as plain arrays to draw: (times in ms, rates in Hz)."""
        return t_ms, np.asarray(data) / (dt_ms * 1e-3)
