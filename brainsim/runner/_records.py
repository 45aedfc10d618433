"""The records a run gives back: spike events, traces (in memory or in an HDF5 file), rates.

Recording-time convention (Brian2's): a state monitor records the state at the
start of a step, before the update, so ``values[0]`` is the state the run
starts from; the spikes emitted during step ``k`` are stamped ``t0 + k * dt``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import brainunit as u
import numpy as np

__all__ = ["SpikeRecord", "Trace", "Rate"]


@dataclass
class SpikeRecord:
    """Spike events of one run, time-ordered.

    ``times[k]`` and ``indices[k]`` are the time and neuron of spike ``k``;
    ``steps[k]`` is its step within the run (an index into ``t``). A spike
    emitted during step ``j`` is stamped ``t[j] = t0 + j * dt``, the start of
    that step (as in Brian2), where ``t0`` is the model's time when the run
    started.

    Attributes
    ----------
    times : Quantity (time), shape (count,)
    indices : ndarray of int, shape (count,)
    n : int
        The population size.
    t : Quantity (time), shape (steps,)
        The start time of every step of the run.
    steps : ndarray of int, shape (count,)
    """

    __module__ = "brainsim.runner"

    times: Any
    indices: np.ndarray
    n: int
    t: Any
    steps: np.ndarray

    @property
    def count(self) -> int:
        return int(self.indices.shape[0])

    def dense(self) -> np.ndarray:
        """The ``steps x n`` bool raster."""
        out = np.zeros((len(self.t), self.n), bool)
        out[self.steps, self.indices] = True
        return out

    def mean_rate(self, start: Any = None, neurons: Any = None) -> Any:
        """Mean rate per neuron from ``start`` to the end of the run (optionally of a subset)."""
        t0 = self.t[0] if start is None else start
        dt = self.t[1] - self.t[0]
        span = self.t[-1] + dt - t0
        keep = np.asarray(self.times >= t0)
        n = self.n
        if neurons is not None:
            sel = np.zeros(self.n, bool)
            sel[np.asarray(neurons)] = True
            keep &= sel[self.indices]
            n = int(sel.sum())
        return keep.sum() / n / span


class Trace:
    """A recorded variable: ``values[k]`` holds at time ``t[k]``.

    The monitor records the state at the start of a step, before the update:
    ``values[0]`` is the state the run starts from, and with ``every=k`` the
    samples are the starts of the steps ``0, k, 2k, ...`` of the model's clock,
    ``t[j] = t0' + j * k * dt`` where ``t0'`` is the first multiple of
    ``k * dt`` at or after the run's start (``t0' = 0`` for a first run).

    A streamed trace (``StateMonitor(..., path=...)``) keeps its values in an
    HDF5 file (dataset ``values``, with ``t`` in ms and the unit as attributes);
    :attr:`values` then reads the whole file and :meth:`read` a range of rows.

    Attributes
    ----------
    t : Quantity (time), shape (samples,)
    values : Quantity or array, shape (samples, ...) (the recorded value's shape)
    path : str or None
        The HDF5 file of a streamed trace.

    Examples
    --------
    >>> import brainunit as u, numpy as np
    >>> from brainsim.runner import Trace
    >>> tr = Trace(np.arange(3) * 0.1 * u.ms, np.zeros((3, 2)) * u.mV)
    >>> len(tr), tr.read(1).shape, tr.path is None
    (3, (2, 2), True)
    """

    __module__ = "brainsim.runner"

    def __init__(self, t: Any, values: Any = None, path: str | os.PathLike | None = None,
                 unit: Any = None):
        if (values is None) == (path is None):
            raise ValueError("Trace: give either values (in memory) or path (an HDF5 file).")
        self.t = t
        self._values = values
        self.path = None if path is None else os.fspath(path)
        self._unit = unit

    def __len__(self) -> int:
        return len(self.t)

    def __repr__(self) -> str:
        where = f"path={self.path!r}" if self.path else "in memory"
        return f"Trace({len(self)} samples, {where})"

    @property
    def values(self) -> Any:
        """All samples (read from the file for a streamed trace)."""
        return self._values if self.path is None else self.read()

    def read(self, start: int = 0, stop: int | None = None) -> Any:
        """Samples ``start:stop``; a streamed trace reads only those rows from its file."""
        if self.path is None:
            return self._values[start:stop]
        import h5py
        with h5py.File(self.path, "r") as f:
            rows = f["values"][start:stop]
        return u.maybe_decimal(u.Quantity(rows, unit=self._unit))


@dataclass
class Rate:
    """Population rate ``rate[k]`` (Hz) during the step that starts at ``t[k]``."""

    __module__ = "brainsim.runner"

    t: Any
    rate: Any

    def smooth(self, width: Any) -> Any:
        """Box-car smoothed rate over ``width``."""
        dt = self.t[1] - self.t[0]
        k = max(1, int(round(float(width / dt))))
        r = np.asarray(self.rate.to_decimal(u.Hz))
        return np.convolve(r, np.ones(k) / k, mode="same") * u.Hz
