"""Plots that update while a run goes on: a raster and traces, one frame per ``refresh``.

The runner calls a :class:`LivePlot` between chunks of the compiled loop (one
chunk per ``refresh`` of simulated time), never inside a step; the run's records
are the same with and without live plotting. By default the frames are drawn in a
render process of their own (:mod:`._live_proc`), so drawing runs on another core
while the simulation goes on; with ``process=False`` they are drawn in the calling
thread, overlapped with the next compiled chunk (JAX dispatches asynchronously).
The drawing itself is :mod:`._live_render`, the same in both cases.
"""
from __future__ import annotations

import os
from typing import Any

import brainunit as u
import matplotlib
import numpy as np

from ._live_proc import RenderProcess
from ._live_render import Renderer, check_writer

__all__ = ["LivePlot"]

# Backends that draw to files only; with one of them (and no path) the frames go to a GIF.
_FILE_BACKENDS = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _interactive() -> bool:
    backend = matplotlib.get_backend().lower()
    return backend not in _FILE_BACKENDS and "inline" not in backend


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
    process : bool
        Draw in a render process of its own (default): the run sends each
        chunk's records and goes on, so a frame costs the run almost nothing
        while another core draws it. Frames for a file are drawn only on CPU
        time the run leaves idle (``SCHED_IDLE`` on Linux), a window's at
        ``nice 10``. The file is complete after :meth:`wait` (called at
        interpreter exit at the latest). ``False`` draws in the calling thread,
        and the file is complete when the run returns.

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
    >>> live.wait()        # the GIF is written
    >>> live.frames
    4
    """

    __module__ = "brainsim.plot"

    def __init__(self, refresh: Any = 10. * u.ms, path: str | os.PathLike | None = None, *,
                 monitors: Any = None, max_traces: int = 4, fps: float = 10.,
                 figsize: tuple = (6.4, 4.), dpi: int = 72, process: bool = True):
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
        if not isinstance(process, bool):
            raise TypeError(f"LivePlot: process must be True or False, got {process!r}.")
        self.refresh = refresh
        self._path = None if path is None else os.fspath(path)
        self.names = None if monitors is None else [str(m) for m in monitors]
        self.max_traces, self.fps, self.figsize, self.dpi = max_traces, float(fps), figsize, dpi
        self.process = process
        self.frames = 0
        self.path: str | None = None
        self._renderer: Renderer | None = None
        self._proc: RenderProcess | None = None
        self._window = path is None and _interactive()
        if process and not self._window:
            # Frames for a file: start the render process now, so that its imports (~0.35 s
            # of matplotlib) overlap with building and compiling the model, not the run.
            self._proc = RenderProcess("agg", idle=True)

    @property
    def _panels(self) -> dict:
        """The panels of the figure drawn in this process (``process=False``)."""
        return self._renderer.panels

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
        layout = []
        for k in shown:
            m = monitors[k]
            if isinstance(m, SpikeMonitor):
                layout.append({"name": k, "kind": "spikes", "n": int(m._n)})
            else:
                cols = 1 if isinstance(m, RateMonitor) else \
                    min(self.max_traces, int(np.prod(m.shape[-1:] or (1,))))
                unit = "Hz" if isinstance(m, RateMonitor) else \
                    ("" if m.unit is None or m.unit.is_unitless else str(m.unit))
                layout.append({"name": k, "kind": "lines", "columns": cols, "unit": unit})
        window = self._path is None and _interactive()
        self.path = None if window else (self._path or "brainsim_live.gif")
        if self.path is not None:
            check_writer(self.path)
        self._shown, self.frames = shown, 0
        self._monitors, self._dt_ms = monitors, dt_ms
        if self.process:
            if self._proc is not None and window != self._window:
                self._proc.close()          # the backend changed since: window <-> file
                self._proc = None
            if self._proc is None:
                self._window = window
                self._proc = RenderProcess(matplotlib.get_backend() if window else "agg",
                                           idle=not window)
            self._proc.send("start", {"layout": layout, "t0": t0_ms, "t1": t1_ms,
                                      "path": self.path, "figsize": list(self.figsize),
                                      "dpi": self.dpi, "fps": self.fps})
        else:
            self._renderer = Renderer(layout, t0_ms, t1_ms, self.path, self.figsize,
                                      self.dpi, self.fps)

    def update(self, rows: dict) -> None:
        """Draw one chunk as a frame: ``{name: (the monitor's rows, their times in ms)}``."""
        chunk = {k: self._monitors[k].arrays(*rows[k], self._dt_ms) for k in self._shown}
        if self.process:
            self._proc.send("frame", {"names": self._shown},
                            [a for k in self._shown for a in chunk[k]])
        else:
            self._renderer.update(chunk)
        self.frames += 1

    def finish(self) -> None:
        """End the run's animation (the file is complete after :meth:`wait`)."""
        if self._proc is not None:          # None when start() refused the run
            self._proc.send("finish", {})
        elif self._renderer is not None:
            self._renderer.finish()

    def wait(self) -> None:
        """Block until the render process has written every finished run's file.

        Raises
        ------
        RuntimeError
            When drawing failed in the render process (with its traceback), or it
            answered nothing for 10 minutes.
        """
        if self._proc is not None:
            self._proc.wait()
