"""The drawing half of :class:`~brainsim.plot.LivePlot`: a figure, its panels and a writer.

It knows nothing of brainsim's records: a run is laid out from plain descriptions of its
panels, and each frame gets plain numpy arrays. So the same code draws in the calling
process or in a render process (:mod:`._live_proc`), and both give the same frames. It
imports nothing of brainsim (the render process loads it without the package, and so
without JAX).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib import animation
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Renderer", "check_writer"]


class _Panel:
    """One Axes. ``whole`` artists hold everything so far and are drawn by full redraws
    (the first frame, a widened y-range); ``fresh`` artists hold only the latest chunk and
    are drawn over the previous frame, so that a frame costs in proportion to the new
    data, not to the run so far."""

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

    def update(self, t: np.ndarray, i: np.ndarray) -> None:
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


class Renderer:
    """One run's figure: a panel per monitor, a frame per :meth:`update`.

    Parameters
    ----------
    layout : list of dict
        One panel each: ``{"name", "kind": "spikes" | "lines", "n"}`` (a raster of ``n``
        neurons) or ``{"name", "kind": "lines", "columns", "unit"}``.
    t0, t1 : float
        The run's time span (ms), the x-range of every panel.
    path : str or None
        The GIF or MP4 to write; None draws into a pyplot window.
    figsize, dpi, fps
        As for :class:`~brainsim.plot.LivePlot`.
    """

    def __init__(self, layout: list, t0: float, t1: float, path: str | None,
                 figsize: tuple, dpi: int, fps: float):
        if path is None:
            import matplotlib.pyplot as plt
            self.fig = plt.figure(figsize=figsize, dpi=dpi)
            plt.show(block=False)
        else:
            self.fig = Figure(figsize=figsize, dpi=dpi)
            FigureCanvasAgg(self.fig)      # a pixel buffer to blit into, without pyplot
        axes = self.fig.subplots(len(layout), 1, sharex=True, squeeze=False)[:, 0]
        self.panels: dict = {}
        for ax, p in zip(axes, layout):
            if p["kind"] == "spikes":
                self.panels[p["name"]] = _RasterPanel(ax, p["name"], p["n"], t0, t1)
            else:
                self.panels[p["name"]] = _LinePanel(ax, p["name"], t0, t1, p["columns"],
                                                    p["unit"])
        axes[-1].set_xlabel("time (ms)")
        self.fig.tight_layout()
        self.frames = 0
        self.writer = None
        if path is not None:
            self.writer = _MP4Writer(fps=fps) if path.lower().endswith(".mp4") else \
                _GIFWriter(fps=fps)
            self.writer.setup(self.fig, path, dpi=dpi)

    def update(self, chunk: dict) -> None:
        """Draw one frame from ``{name: (t_ms, values)}`` (for a raster: times and indices)."""
        for k, panel in self.panels.items():
            panel.update(*chunk[k])
        canvas = self.fig.canvas
        if any([p.grow() for p in self.panels.values()]) or self.frames == 0:
            canvas.draw()           # axes, labels and everything so far
        else:
            for p in self.panels.values():     # only the latest chunk, over the last frame
                for a in p.fresh:
                    self.fig.draw_artist(a)
        if self.writer is not None:
            self.writer.grab_frame()
        else:
            canvas.blit(self.fig.bbox)
            canvas.flush_events()
        self.frames += 1

    def finish(self) -> None:
        """Close the animation file (a window stays open)."""
        if self.writer is not None:
            self.writer.finish()
            self.writer = None


def check_writer(path: str) -> None:
    """Refuse, before anything runs, a file that no writer on this machine can write."""
    if path.lower().endswith(".mp4") and not animation.writers.is_available("ffmpeg"):
        raise ValueError(f"LivePlot: writing {path!r} needs ffmpeg on the PATH, which was "
                         "not found; install ffmpeg or give a path ending in .gif.")


class _GIFWriter(animation.AbstractMovieWriter):
    """A GIF writer that takes the canvas pixels as they are (after blitting).

    matplotlib's PillowWriter renders the whole figure again for each frame and
    quantizes every frame adaptively when it saves; here a frame is the canvas buffer,
    reduced at once to the 64 colours that Pillow's fast octree picks for the first
    frame. The later frames hold the same artists' colours, and mapping them onto a
    known palette costs a quarter of choosing a new one.
    """

    def setup(self, fig: Any, outfile: str, dpi: float | None = None) -> None:
        super().setup(fig, outfile, dpi=dpi)
        self._frames: list = []

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        from PIL import Image

        buf = self.fig.canvas.buffer_rgba()
        h, w = np.asarray(buf).shape[:2]
        # the RGBA buffer as it is: no copy into a contiguous RGB array first
        rgba = Image.frombuffer("RGBA", (w, h), buf, "raw", "RGBA", 0, 1)
        if not self._frames:
            frame = rgba.quantize(64, method=Image.Quantize.FASTOCTREE,
                                  dither=Image.Dither.NONE)
        else:
            frame = rgba.convert("RGB").quantize(palette=self._frames[0],
                                                 dither=Image.Dither.NONE)
        self._frames.append(frame)

    def finish(self) -> None:
        self._frames[0].save(self.outfile, save_all=True, append_images=self._frames[1:],
                             duration=int(1000 / self.fps), loop=0)


class _MP4Writer(animation.FFMpegWriter):
    """ffmpeg fed with the canvas pixels (after blitting) instead of a new render."""

    def grab_frame(self, **savefig_kwargs: Any) -> None:
        self._proc.stdin.write(bytes(self.fig.canvas.buffer_rgba()))
