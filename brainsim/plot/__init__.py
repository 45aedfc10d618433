"""Plots of simulation results (``raster``, ``traces``, ``rate``) and a panel layout (``figure``).

Each plot draws into ``ax=`` and returns it, or makes and returns a new figure.
"""
from ._plot import figure, raster, rate, traces

__all__ = ["raster", "traces", "rate", "figure"]
