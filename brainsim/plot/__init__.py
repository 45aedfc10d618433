"""Plots of simulation results (``raster``, ``traces``, ``rate``), a panel layout (``figure``),
and ``LivePlot``, which draws the monitors while a run goes on.

Each plot draws into ``ax=`` and returns it, or makes and returns a new figure.
"""
from ._live import LivePlot
from ._plot import figure, raster, rate, traces

__all__ = ["raster", "traces", "rate", "figure", "LivePlot"]
