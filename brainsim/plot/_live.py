"""Plots that update while a run goes on: a raster and traces, one frame per ``refresh``.

The runner calls a :class:`LivePlot` between chunks of the compiled loop (one
chunk per ``refresh`` of simulated time), never inside a step. It dispatches the
next chunk before it draws the last one, so drawing on the host overlaps with
the simulation; the run's records are the same with and without live plotting.
Drawing stays on the thread that called ``run``, which GUI toolkits require.
"""
from __future__ import annotations

import os
from typing import Any

import brainunit as u
import matplotlib
import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg

from ..runner import Rate, SpikeRecord, Trace
from ._plot import _Figure

__all__ = ["LivePlot"]

# Backends that draw to files only; with one of them (and no path) the frames go to a GIF.
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _interactive() -> bool:
    backend = matplotlib.get_backend().lower()
    return backend not in _FILE_BACKENDS and "inline" not in backend


class _Panel:
    """One Axes. ``whole`` artists hold everything so far and are drawn by full redraws
    (the first frame, a widened y-range, a window exposed again); ``fresh`` artists hold
    only the latest chunk and are drawn over the previous frame, so that a frame costs in
    proportion to the new data, not to the run so far."""

    whole: list
    fresh: list

    def grow(self) -> bool:
        return False


class _RasterPanel(_Panel):
    """Spike dots (time, neuron index), filled in from left to right."""

    def __init__(self, ax: Any, name: str, n: int, t0: float, t1: float):
        style = dict(ls="none", color="k", marker="," if n > 400 else "|", ms=3, mew=0.6)
        self.whole = ax.plot([], [], **style)
        self.fresh = ax.plot([], [], animated=True, **style)
        self.t: list = []
        self.i: list = []
        ax.set_xlim(t0, t1)
        ax.set_ylim(-0.5, n - 0.5)
        ax.set_ylabel(f"{name}: neuron")

    def update(self, rec: SpikeRecord) -> None:
        t, i = np.asarray(rec.t.to_decimal(u.ms)), np.asarray(rec.i)
        self.t.append(t)
        self.i.append(i)
        self.whole[0].set_data(np.concatenate(self.t), np.concatenate(self.i))
        self.fresh[0].set_data(t, i)


class _LinePanel(_Panel):
    """Traces (or a population rate) drawn as lines that grow with the run."""

    def __init__(self, ax: Any, name: str, t0: float, t1: float, columns: int, unit: str):
        self.ax = ax
        self.whole = [ax.plot([], [], lw=1)[0] for _ in range(columns)]
        self.fresh = [ax.plot([], [], lw=1, color=w.get_color(), animated=True)[0]
                      for w in self.whole]
        self.t: list = []
        self.v: list = []
        self.lo = self.hi = None
        ax.set_xlim(t0, t1)
        ax.set_ylabel(f"{name} ({unit})" if unit else name)

    def update(self, t: np.ndarray, v: np.ndarray) -> None:
        if len(t) == 0:
            for f in self.fresh:
                f.set_data([], [])
            return
        v = v.reshape(len(t), -1)[:, :len(self.whole)]
        # the new segment starts at the last point drawn, so the line stays joined
        tn = t if not self.t else np.concatenate([self.t[-1][-1:], t])
        vn = v if not self.v else np.concatenate([self.v[-1][-1:], v])
        self.t.append(t)
        self.v.append(v)
        tt, vv = np.concatenate(self.t), np.concatenate(self.v)
        for k, (w, f) in enumerate(zip(self.whole, self.fresh)):
            w.set_data(tt, vv[:, k])
            f.set_data(tn, vn[:, k])
        finite = v[np.isfinite(v)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            self.lo = lo if self.lo is None else min(self.lo, lo)
            self.hi = hi if self.hi is None else max(self.hi, hi)

    def grow(self) -> bool:
        """Widen the y-range when the data left it (the frame is then drawn in full)."""
        if self.lo is None:
            return False
        y0, y1 = self.ax.get_ylim()
        if y0 <= self.lo and self.hi <= y1 and not self.ax.get_autoscaley_on():
            return False
        pad = 0.25 * (self.hi - self.lo) or 1.
        self.ax.set_ylim(self.lo - pad, self.hi + pad)     # also turns autoscaling off
        return True


class LivePlot:
    """Show a run's monitors while it goes on: a raster per spike monitor, lines per trace.

    Give it to :func:`brainsim.run` or :class:`brainsim.runner.Runner` as
    ``live=``. Every ``refresh`` of simulated time the figure gets one new frame:
    in an interactive matplotlib window when a GUI backend is in use, otherwise
    (headless, or whenever ``path`` is given) as a frame of an animated GIF or
    MP4 written through matplotlib's animation writers. The run is split into
    compiled chunks of ``refresh``; its results equal those of a run without
    live plotting.

    Parameters
    ----------
    refresh : Quantity (time)
        Simulated time between frames; a whole number of steps of ``dt``.
    path : str or PathLike, optional
        ``*.gif`` (Pillow) or ``*.mp4`` (needs ``ffmpeg`` on the PATH). Without
        it, a headless run writes ``brainsim_live.gif`` in the working folder.
    monitors : sequence of str, optional
        The names of the run's monitors to show (all its spike, state and rate
        monitors by default).
    max_traces : int
        At most this many columns (neurons) of each state monitor are drawn.
    fps : float
        Frames per second of the written animation.
    figsize, dpi
        Size of the figure; a small figure keeps each frame cheap.

    After a run, ``frames`` is the number of frames drawn and ``path`` the file
    written (None for a window).

    Examples
    --------
    >>> import brainsim, brainunit as u, tempfile, os
    >>> from brainsim import neurons, runner, plot
    >>> brainsim.environ.set(dt=0.1 * u.ms)
    >>> n = brainsim.init_states(neurons.LIF(20))
    >>> live = plot.LivePlot(refresh=5. * u.ms, path=os.path.join(tempfile.mkdtemp(), 'run.gif'))
    >>> res = brainsim.run(n, 20. * u.ms, inputs=lambda t: 20. * u.mV, progress=False,
    ...                    monitors={'spk': runner.SpikeMonitor(n), 'V': n.V}, live=live)
    >>> live.frames
    4
    """

    __module__ = "brainsim.plot"

    def __init__(self, refresh: Any = 10. * u.ms, path: str | os.PathLike | None = None, *,
                 monitors: Any = None, max_traces: int = 4, fps: float = 10.,
                 figsize: tuple = (6.4, 4.), dpi: int = 72):
        if not (isinstance(refresh, u.Quantity) and refresh.unit.has_same_dim(u.second)):
            raise ValueError(f"LivePlot: refresh must be a time such as 10. * u.ms, got "
                             f"{refresh!r}.")
        if path is not None:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"LivePlot: path must be a file name ending in .gif or .mp4, "
                                f"got {type(path).__name__}.")
            ext = os.path.splitext(os.fspath(path))[1].lower()
            if ext not in (".gif", ".mp4"):
                raise ValueError(f"LivePlot: path={os.fspath(path)!r} must end in .gif "
                                 "(Pillow) or .mp4 (ffmpeg).")
        if isinstance(max_traces, bool) or not isinstance(max_traces, int) or max_traces < 1:
            raise ValueError(f"LivePlot: max_traces must be a positive int, got {max_traces!r}.")
        self.refresh = refresh
        self._path = None if path is None else os.fspath(path)
        self.names = None if monitors is None else [str(m) for m in monitors]
        self.max_traces, self.fps, self.figsize, self.dpi = max_traces, float(fps), figsize, dpi
        self.frames = 0
        self.path: str | None = None
        self._writer = self._fig = None

    # -- called by the runner -----------------------------------------------------------
    def start(self, monitors: dict, t0_ms: float, t1_ms: float, dt_ms: float) -> None:
        """Lay out one panel per shown monitor for a run from ``t0_ms`` to ``t1_ms``."""
        from ..runner import RateMonitor, SpikeMonitor, StateMonitor

        names = list(monitors) if self.names is None else self.names
        unknown = [k for k in names if k not in monitors]
        if unknown:
            raise ValueError(f"LivePlot: monitors {unknown} are not monitors of this run "
                             f"(it has {sorted(monitors)}).")
        shown = [k for k in names
                 if isinstance(monitors[k], (SpikeMonitor, StateMonitor, RateMonitor))]
        if not shown:
            raise ValueError("LivePlot: the run has no SpikeMonitor, StateMonitor or "
                             "RateMonitor to show; give run(..., monitors={...}).")
        window = self._path is None and _interactive()
        if window:
            import matplotlib.pyplot as plt
            self._fig = plt.figure(figsize=self.figsize, dpi=self.dpi)
            plt.show(block=False)
        else:
            self._fig = _Figure(figsize=self.figsize, dpi=self.dpi)
            FigureCanvasAgg(self._fig)      # a pixel buffer to blit into, without pyplot
        axes = self._fig.subplots(len(shown), 1, sharex=True, squeeze=False)[:, 0]
        self._panels = {}
        for ax, k in zip(axes, shown):
            m = monitors[k]
            if isinstance(m, SpikeMonitor):
                self._panels[k] = _RasterPanel(ax, k, m._n, t0_ms, t1_ms)
            else:
                cols = 1 if isinstance(m, RateMonitor) else \
                    min(self.max_traces, int(np.prod(m.shape[-1:] or (1,))))
                unit = "Hz" if isinstance(m, RateMonitor) else \
                    ("" if m.unit is None or m.unit.is_unitless else str(m.unit))
                self._panels[k] = _LinePanel(ax, k, t0_ms, t1_ms, cols, unit)
        axes[-1].set_xlabel("time (ms)")
        self._fig.tight_layout()
        self.frames, self.path = 0, None
        if not window:
            self.path = self._path or "brainsim_live.gif"
            self._writer = self._make_writer(self.path)
            self._writer.setup(self._fig, self.path, dpi=self.dpi)

    def update(self, records: dict) -> None:
        """Add one chunk's records (name -> SpikeRecord/Trace/Rate) and draw a frame."""
        for k, panel in self._panels.items():
            rec = records[k]
            if isinstance(rec, SpikeRecord):
                panel.update(rec)
            elif isinstance(rec, Rate):
                panel.update(np.asarray(rec.t.to_decimal(u.ms)),
                             np.asarray(rec.rate.to_decimal(u.Hz)))
            elif isinstance(rec, Trace):
                v = rec.values
                panel.update(np.asarray(rec.t.to_decimal(u.ms)),
                             np.asarray(v.mantissa if isinstance(v, u.Quantity) else v))
        canvas = self._fig.canvas
        if any([p.grow() for p in self._panels.values()]) or self.frames == 0:
            canvas.draw()           # axes, labels and everything so far
        else:
            for p in self._panels.values():     # only the latest chunk, over the last frame
                for a in p.fresh:
                    self._fig.draw_artist(a)
        if self._writer is not None:
            self._writer.grab_frame()
        else:
            canvas.blit(self._fig.bbox)
            canvas.flush_events()
        self.frames += 1

    def finish(self) -> None:
        """Close the animation file (the window stays open)."""
        if self._writer is not None:
            self._writer.finish()
            self._writer = None

    def _make_writer(self, path: str) -> Any:
        if path.lower().endswith(".mp4"):
            if not animation.writers.is_available("ffmpeg"):
                raise ValueError(f"LivePlot: writing {path!r} needs ffmpeg on the PATH, which "
                                 "was not found; install ffmpeg or give a path ending in .gif.")
            return _MP4Writer(fps=self.fps)
        return _GIFWriter(fps=self.fps)


class _GIFWriter(animation.AbstractMovieWriter):
    """A GIF writer that takes the canvas pixels as they are (after blitting).

    matplotlib's PillowWriter renders the whole figure again for each frame and
    quantizes every frame adaptively when it saves; here a frame is the canvas buffer,
    reduced to 64 colours with Pillow's fast octree at once.
    """

    def setup(self, fig: Any, outfile: str, dpi: float | None = None) -> None:
        super().setup(fig, outfile, dpi=dpi)
        self._frames: list = []

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        from PIL import Image

        rgb = Image.fromarray(np.asarray(self.fig.canvas.buffer_rgba())[..., :3])
        self._frames.append(rgb.quantize(64, method=Image.Quantize.FASTOCTREE,
                                         dither=Image.Dither.NONE))

    def finish(self) -> None:
        self._frames[0].save(self.outfile, save_all=True, append_images=self._frames[1:],
                             duration=int(1000 / self.fps), loop=0)


class _MP4Writer(animation.FFMpegWriter):
    """ffmpeg fed with the canvas pixels (after blitting) instead of a new render."""

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        self._proc.stdin.write(bytes(self.fig.canvas.buffer_rgba()))
