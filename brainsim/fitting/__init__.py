"""Fitting models to recorded data: traces or spike times, with gradients, many candidates
in parallel over the available devices.

- :class:`TraceFitter`, :class:`SpikeFitter`: the fitters, and their :class:`FitResult`;
- :class:`MSEMetric`, :class:`VanRossumMetric`, :class:`GammaFactor`: what they minimise
  (subclass :class:`Metric` for another);
- :func:`gamma_factor`, :func:`van_rossum`: spike-train distances on spike times.
"""
from ._fitter import SpikeFitter, TraceFitter
from ._metrics import GammaFactor, Metric, MSEMetric, VanRossumMetric
from ._result import FitResult
from ._spike_metrics import gamma_factor, van_rossum

__all__ = ["TraceFitter", "SpikeFitter", "FitResult", "Metric", "MSEMetric",
           "VanRossumMetric", "GammaFactor", "gamma_factor", "van_rossum"]
