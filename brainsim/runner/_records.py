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
    """Spike events of one run, time-ordered (by step, then by neuron), read as in Brian2.

    ``i[k]`` and ``t[k]`` are the neuron and time of spike ``k``; ``steps[k]``
    is its step within the run (an index into ``run_t``). A spike emitted
    during step ``j`` is stamped ``run_t[j] = t0 + j * dt``, the start of that
    step (as in Brian2), where ``t0`` is the model's time when the run started.

    Attributes
    ----------
    i : ndarray of int, shape (count,)
        The neuron of each spike.
    t : Quantity (time), shape (count,)
        The time of each spike.
    n : int
        The population size.
    run_t : Quantity (time), shape (steps,)
        The start time of every step of the run.
    steps : ndarray of int, shape (count,)
        The step of each spike within the run: ``t == run_t[steps]``.

    Examples
    --------
    >>> import brainunit as u, numpy as np
    >>> from brainsim.runner import SpikeRecord
    >>> run_t = np.arange(4) * 1. * u.ms
    >>> rec = SpikeRecord(np.array([1, 0, 1]), run_t[[0, 2, 3]], 3, run_t, np.array([0, 2, 3]))
    >>> rec.count, rec.spike_trains()[1].to_decimal(u.ms).tolist()
    (3, [0.0, 3.0])
    >>> rec.rates().to_decimal(u.Hz).tolist()     # spikes per neuron / 4 ms
    [250.0, 500.0, 0.0]
    """

    __module__ = "brainsim.runner"

    i: np.ndarray
    t: Any
    n: int
    run_t: Any
    steps: np.ndarray

    @property
    def count(self) -> int:
        """The number of spikes."""
        return int(self.i.shape[0])

    def spike_trains(self) -> dict[int, Any]:
        """``{neuron: its spike times}`` for every neuron ``0 <= i < n`` (empty when silent)."""
        order = np.argsort(self.i, kind="stable")     # stable: each train stays time-ordered
        bounds = np.searchsorted(self.i[order], np.arange(self.n + 1))
        return {k: self.t[order[bounds[k]:bounds[k + 1]]] for k in range(self.n)}

    def dense(self) -> np.ndarray:
        """The ``steps x n`` bool raster."""
        out = np.zeros((len(self.run_t), self.n), bool)
        out[self.steps, self.i] = True
        return out

    def _span(self, start: Any) -> tuple[Any, Any]:
        t0 = self.run_t[0] if start is None else start
        dt = self.run_t[1] - self.run_t[0] if len(self.run_t) > 1 else None
        if dt is None:
            raise ValueError("SpikeRecord: a rate needs a run of at least 2 steps.")
        return t0, self.run_t[-1] + dt - t0

    def rates(self, start: Any = None) -> Any:
        """Rate of each neuron from ``start`` (the run's start by default) to the run's end.

        Returns
        -------
        Quantity (Hz), shape (n,)
            Spikes of each neuron at or after ``start``, over that span.
        """
        t0, span = self._span(start)
        keep = np.asarray(self.t >= t0)
        return np.bincount(self.i[keep], minlength=self.n) / span

    def mean_rate(self, start: Any = None, neurons: Any = None) -> Any:
        """Mean rate per neuron from ``start`` to the end of the run (optionally of a subset).

        Parameters
        ----------
        start : Quantity (time), optional
            The run's start by default.
        neurons : sequence of int or bool mask of shape (n,), optional
            The neurons to average over (all by default).
        """
        r = self.rates(start)
        return r.mean() if neurons is None else r[np.asarray(neurons)].mean()


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
