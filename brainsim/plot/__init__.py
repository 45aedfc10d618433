"""Plots of simulation results returning matplotlib figures (``raster``, ``traces``, ``rate``)."""
from ._plot import raster, rate, traces

__all__ = ["raster", "traces", "rate"]
