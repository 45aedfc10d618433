"""Figures of simulation results: spike rasters, traces and population rates.

Each function draws into the ``ax=`` it is given and returns that Axes
(matplotlib's convention); without ``ax=`` it makes a new
``matplotlib.figure.Figure`` and returns the figure. Figures are built
without pyplot (no GUI backend, no global figure list), so they work headless;
``path=`` saves a PNG with the Agg renderer.
"""
from __future__ import annotations

import io
from typing import Any

import brainunit as u
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..runner import Rate, SpikeRecord, Trace

__all__ = ["raster", "traces", "rate", "figure"]


class _Figure(Figure):
    """A Figure that shows itself as a PNG in Jupyter.

    Without pyplot no inline backend registers a display for figures, so a
    plain ``Figure`` at the end of a notebook cell shows as ``<Figure ...>``.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        return buf.getvalue()


def _ms(x: Any) -> np.ndarray:
    return np.asarray(x.to_decimal(u.ms)) if isinstance(x, u.Quantity) else np.asarray(x)


def _axes(ax: Any, figsize: tuple, name: str) -> tuple[Axes, Figure | None]:
    """The Axes to draw into, and the figure made for it (None when ``ax`` was given)."""
    if ax is None:
        fig = _Figure(figsize=figsize)
        return fig.add_subplot(), fig
    if not isinstance(ax, Axes):
        raise TypeError(f"{name}: ax must be a matplotlib Axes (e.g. from plot.figure(2, 1) or "
                        f"fig.add_subplot()), got {type(ax).__name__}.")
    return ax, None


def _finish(ax: Axes, fig: Figure | None, path: Any, title: str | None) -> Axes | Figure:
    if title:
        ax.set_title(title)
    spec = ax.get_subplotspec()
    if fig is None and spec is not None and not spec.is_last_row() and \
            len(ax.get_shared_x_axes().get_siblings(ax)) > 1:
        ax.set_xlabel("")      # a shared time axis is labelled once, under the bottom panel
    target = ax.figure if fig is None else fig
    if fig is not None:
        fig.tight_layout()
    if path is not None:
        target.savefig(path, dpi=110, format="png")
    return ax if fig is None else fig


def figure(rows: int = 1, cols: int = 1, *, figsize: tuple | None = None,
           sharex: bool = True) -> tuple[Figure, np.ndarray]:
    """A figure with a ``rows x cols`` grid of panels, for the ``ax=`` of the plots.

    Parameters
    ----------
    rows, cols : int
        Grid size (each at least 1).
    figsize : (width, height) in inches, optional
        Default: 8 wide, 2.6 per row.
    sharex : bool
        Share the time axis between the panels.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy array of Axes, shape ``[rows, cols]`` (flatten with ``axes.flat``)

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import plot
    >>> fig, axes = plot.figure(2, 1)
    >>> axes.shape
    (2, 1)
    >>> plot.raster([1., 2.] * u.ms, [0, 1], ax=axes[0, 0]) is axes[0, 0]
    True
    """
    for name, v in (("rows", rows), ("cols", cols)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
            raise ValueError(f"plot.figure: {name} must be a positive integer, got {v!r}.")
    fig = _Figure(figsize=figsize or (8, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=sharex, squeeze=False)
    return fig, axes


def raster(spikes: Any, indices: Any = None, *, ax: Axes | None = None, path: Any = None,
           title: str | None = None, markersize: float = 1.0,
           figsize: tuple = (8, 4)) -> Axes | Figure:
    """Spike raster: one dot per spike at (time, neuron index).

    Parameters
    ----------
    spikes : SpikeRecord or times
        A :class:`brainsim.runner.SpikeRecord`, or spike times (Quantity or ms).
    indices : array, optional
        Neuron indices when ``spikes`` are times (one per time).
    ax : matplotlib Axes, optional
        Draw there and return it; without it a new figure is made and returned.
    path : str or path, optional
        Save the figure as a PNG there.

    Returns
    -------
    matplotlib.axes.Axes if ``ax`` is given, else matplotlib.figure.Figure

    Examples
    --------
    >>> import brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.raster([1., 2., 3.] * u.ms, [0, 1, 0])
    >>> fig.axes[0].get_xlabel()
    'time (ms)'
    """
    if indices is None:
        if not isinstance(spikes, SpikeRecord):
            raise TypeError(f"raster: give a SpikeRecord, or spike times and indices; got only a "
                            f"{type(spikes).__name__}.")
        times, indices = spikes.t, spikes.i
    else:
        times = spikes
    t, i = _ms(times), np.asarray(indices)
    if t.shape != i.shape:
        raise ValueError(f"raster: times has shape {t.shape} but indices has {i.shape}; give one "
                         "index per spike time.")
    ax, fig = _axes(ax, figsize, "raster")
    ax.plot(t, i, ".k", markersize=markersize, rasterized=True)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron index")
    return _finish(ax, fig, path, title)


def traces(t: Any, values: Any = None, *, ax: Axes | None = None, path: Any = None,
           title: str | None = None, ylabel: str | None = None,
           figsize: tuple = (8, 3)) -> Axes | Figure:
    """Line plot of recorded variables over time (one line per column).

    Parameters
    ----------
    t : Trace or times
        A :class:`brainsim.runner.Trace`, or the time axis (Quantity or ms), shape ``[T]``.
    values : Trace, array or Quantity, shape ``[T]`` or ``[T, k]``, optional
        The values at ``t`` (a ``Trace`` here uses its own values); omitted when
        ``t`` is a ``Trace``.
    ax : matplotlib Axes, optional
        Draw there and return it; without it a new figure is made and returned.
    path : optional
        Save the figure as a PNG there.

    Returns
    -------
    matplotlib.axes.Axes if ``ax`` is given, else matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.traces(np.arange(3.) * u.ms, np.zeros((3, 2)) * u.mV)
    >>> len(fig.axes[0].lines), fig.axes[0].get_ylabel()
    (2, 'mV')
    """
    if values is None:
        if not isinstance(t, Trace):
            raise TypeError(f"traces: give a Trace, or times and values; got only a "
                            f"{type(t).__name__}.")
        t, values = t.t, t.values
    elif isinstance(values, Trace):
        # a Trace next to its times, e.g. plot.traces(res.t, res['v'])
        values = values.values
    unit = values.unit if isinstance(values, u.Quantity) else None
    v = np.asarray(values.mantissa if unit is not None else values)
    tt = _ms(t)
    if v.ndim == 0 or v.shape[0] != tt.shape[0]:
        raise ValueError(f"traces: {tt.shape[0]} times but values has shape {v.shape}; give one "
                         "row of values per time.")
    ax, fig = _axes(ax, figsize, "traces")
    ax.plot(tt, v.reshape(v.shape[0], -1))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel(ylabel or (str(unit) if unit is not None else "value"))
    return _finish(ax, fig, path, title)


def rate(t: Any, r: Any = None, *, smooth: Any = None, ax: Axes | None = None, path: Any = None,
         title: str | None = None, figsize: tuple = (8, 3)) -> Axes | Figure:
    """Population rate over time, optionally box-car smoothed over ``smooth``.

    Parameters
    ----------
    t : Rate or times
        A :class:`brainsim.runner.Rate`, or the time axis, shape ``[T]``.
    r : Quantity (Hz) or array, shape ``[T]``, optional
        The rate at ``t``; omitted when ``t`` is a ``Rate``.
    smooth : Quantity (time), optional
        Width of the box-car window.
    ax : matplotlib Axes, optional
        Draw there and return it; without it a new figure is made and returned.

    Returns
    -------
    matplotlib.axes.Axes if ``ax`` is given, else matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, brainunit as u
    >>> from brainsim import plot
    >>> fig = plot.rate(np.arange(10.) * u.ms, np.ones(10) * u.Hz, smooth=2. * u.ms)
    >>> fig.axes[0].get_ylabel()
    'rate (Hz)'
    """
    if r is None:
        if not isinstance(t, Rate):
            raise TypeError(f"rate: give a Rate, or times and rates; got only a "
                            f"{type(t).__name__}.")
        t, r = t.t, t.rate
    elif isinstance(r, Rate):
        r = r.rate
    tt = _ms(t)
    rr = np.asarray(r.to_decimal(u.Hz)) if isinstance(r, u.Quantity) else np.asarray(r)
    if smooth is not None and len(tt) > 1:
        k = max(1, int(round(float(_ms(smooth) / (tt[1] - tt[0])))))
        rr = np.convolve(rr, np.ones(k) / k, mode="same")
    ax, fig = _axes(ax, figsize, "rate")
    ax.plot(tt, rr)
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("rate (Hz)")
    return _finish(ax, fig, path, title)
