"""Figures of simulation results: spike rasters, traces and population rates.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no
GUI backend), so they work headless and do not accumulate in a global
figure list; ``path=`` saves a PNG with the Agg renderer.
"""
from __future__ import annotations

from typing import Any

import brainunit as u
import numpy as np
from matplotlib.figure import Figure

__all__ = ["raster", "traces", "rate"]


def _ms(x: Any) -> np.ndarray:
    return np.asarray(x.to_decimal(u.ms)) if isinstance(x, u.Quantity) else np.asarray(x)


def _finish(fig: Figure, path: Any) -> Figure:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110, format="png")
    return fig


def raster(spikes: Any, indices: Any = None, *, path: Any = None, title: str | None = None,
           markersize: float = 1.0, figsize: tuple = (8, 4)) -> Figure:
    """Spike raster: one dot per spike at (time, neuron index).

    Parameters
    ----------
    spikes : SpikeRecord or times
        A :class:`brainsim.runner.SpikeRecord`, or spike times (Quantity or ms).
    indices : array, optional
        Neuron indices when ``spikes`` are times.
    path : str or path, optional
        Save a PNG there.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.raster([1., 2., 3.] * u.ms, [0, 1, 0])
    >>> fig.axes[0].get_xlabel()
    'time (ms)'
    """
    if indices is None:
        times, indices = spikes.t, spikes.i
    else:
        times = spikes
    t, i = _ms(times), np.asarray(indices)
    if t.shape != i.shape:
        raise ValueError(f"raster: times has shape {t.shape} but indices has {i.shape}; give one "
                         "index per spike time.")
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    ax.plot(t, i, ".k", markersize=markersize, rasterized=True)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron index")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def traces(t: Any, values: Any = None, *, path: Any = None, title: str | None = None,
           ylabel: str | None = None, figsize: tuple = (8, 3)) -> Figure:
    """Line plot of recorded variables over time (one line per column).

    Parameters
    ----------
    t : Trace or times
        A :class:`brainsim.runner.Trace`, or the time axis.
    values : array or Quantity, shape ``[T]`` or ``[T, k]``
    path : optional
        Save a PNG there.

    Examples
    --------
    >>> import numpy as np, brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.traces(np.arange(3.) * u.ms, np.zeros((3, 2)) * u.mV)
    >>> len(fig.axes[0].lines), fig.axes[0].get_ylabel()
    (2, 'mV')
    """
    if values is None:
        t, values = t.t, t.values
    unit = values.unit if isinstance(values, u.Quantity) else None
    v = np.asarray(values.mantissa if unit is not None else values)
    tt = _ms(t)
    if v.shape[0] != tt.shape[0]:
        raise ValueError(f"traces: {tt.shape[0]} times but values has {v.shape[0]} rows.")
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    ax.plot(tt, v.reshape(v.shape[0], -1))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel or (str(unit) if unit is not None else "value"))
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def rate(t: Any, r: Any = None, *, smooth: Any = None, path: Any = None,
         title: str | None = None, figsize: tuple = (8, 3)) -> Figure:
    """Population rate over time, optionally box-car smoothed over ``smooth``.

    Examples
    --------
    >>> import numpy as np, brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.rate(np.arange(10.) * u.ms, np.ones(10) * u.Hz, smooth=2. * u.ms)
    >>> fig.axes[0].get_ylabel()
    'rate (Hz)'
    """
    if r is None:
        t, r = t.t, t.rate
    tt = _ms(t)
    rr = np.asarray(r.to_decimal(u.Hz)) if isinstance(r, u.Quantity) else np.asarray(r)
    if smooth is not None and len(tt) > 1:
        k = max(1, int(round(float(_ms(smooth) / (tt[1] - tt[0])))))
        rr = np.convolve(rr, np.ones(k) / k, mode="same")
    fig = Figure(figsize=figsize)
    ax = fig.add_subplot()
    ax.plot(tt, rr)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    if title:
        ax.set_title(title)
    return _finish(fig, path)
