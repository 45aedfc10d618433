"""TraceFitter and SpikeFitter: fit a model's parameters to recorded traces or spike times."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from ._bounds import parse_bounds
from ._metrics import GammaFactor, Metric, MSEMetric, VanRossumMetric
from ._result import FitResult
from ._search import search
from ._simulator import Simulator
from ._spike_metrics import gamma_factor

__all__ = ["TraceFitter", "SpikeFitter"]


def _traces(where: str, what: str, value: Any) -> tuple[np.ndarray, Any]:
    """``[n_traces, T]`` data (a Quantity, array, or list of equal-length 1-D traces) ->
    (SI float32 array, unit)."""
    if isinstance(value, (list, tuple)):
        lengths = [int(np.size(u.get_mantissa(x))) for x in value]
        if len(set(lengths)) > 1:
            raise ValueError(f"{where}: the traces of {what} have different lengths {lengths}; "
                             "they must all have the same number of time steps. How to fix: "
                             "cut them to a common length.")
        value = u.math.stack(list(value)) if isinstance(value[0], u.Quantity) else \
            np.stack([np.asarray(x) for x in value])
    unit = value.unit if isinstance(value, u.Quantity) else u.UNITLESS
    m = value.to_decimal(u.Unit(value.dim)) if isinstance(value, u.Quantity) else value
    m = np.asarray(m, np.float32)
    if m.ndim == 1:
        m = m[None]
    if m.ndim != 2 or m.shape[1] == 0:
        raise ValueError(f"{where}: {what} must be traces of shape [n_traces, T], got shape "
                         f"{m.shape}.")
    if not np.all(np.isfinite(m)):
        raise ValueError(f"{where}: {what} holds NaN or infinite values.")
    return m, unit


def _one_entry(where: str, name: str, value: Any) -> tuple[str, Any]:
    if not isinstance(value, dict) or len(value) != 1:
        raise TypeError(f"{where}: {name} must be a dict with one entry, the variable's name "
                        f"and its traces, e.g. {{'I': I_traces}}, got {value!r}.")
    return next(iter(value.items()))


class _Fitter:
    """What both fitters share: the model, the input, the search and ``generate``."""

    _where = "Fitter"

    def __init__(self, model: Any, input: dict, dt: Any, method: str, threshold: str | None,
                 reset: str | None, refractory: Any, param_init: dict | None, n_samples: int,
                 namespace: dict | None):
        w = self._where
        if not (isinstance(dt, u.Quantity) and dt.dim == u.second.dim and np.size(dt) == 1
                and float(dt.to_decimal(u.second)) > 0):
            raise ValueError(f"{w}: dt must be a positive time, e.g. 0.1 * u.ms, got {dt!r}.")
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"{w}: n_samples must be a positive int, got {n_samples!r}.")
        self.model, self.dt, self.method = model, dt, method
        self.threshold, self.reset, self.refractory = threshold, reset, refractory
        self.param_init, self.namespace, self.n_samples = param_init, namespace, n_samples
        self.input_name, inp = _one_entry(w, "input", input)
        self.input, self.input_unit = _traces(w, f"input[{self.input_name!r}]", inp)
        self.n_traces, self.n_steps = self.input.shape
        self._sims: dict = {}

    _output_name: str | None = None

    def _simulator(self, fitted: dict[str, Any], n: int) -> Simulator:
        key = (tuple((k, str(v)) for k, v in fitted.items()), n)
        if key not in self._sims:
            self._sims[key] = Simulator(
                self._where, self.model, n, self.input_name, self.input_unit, self._output_name,
                fitted, self.dt, self.method, self.threshold, self.reset, self.refractory,
                self.param_init, self.namespace)
        return self._sims[key]

    def _data(self) -> jnp.ndarray:
        raise TypeError("a fitter must define _data()")

    def _model_output(self, rec: Any, spikes: Any) -> Any:
        return rec

    def fit(self, params: dict, n_rounds: int = 50, optimizer: Any = None,
            metric: Metric | None = None, *, resample: float = 0.25, init: str = "lhs",
            seed: int = 0, devices: Any = None) -> FitResult:
        """Fit the parameters named in ``params`` within their bounds.

        Parameters
        ----------
        params : dict
            ``{'gL': [1., 100.] * u.nS, ...}``: the bounds ``[low, high]`` of
            each fitted parameter, in its unit.
        n_rounds : int
            Rounds; each takes one gradient step on every candidate (when the
            metric is differentiable) and then replaces the worst ``resample``
            fraction by candidates drawn around the best eighth, with a spread
            shrinking from 15% to 1% of the bounds.
        optimizer : optax.GradientTransformation, optional
            Applied to each candidate in the unbounded coordinates ``z``
            (parameter = ``low + (high - low) * sigmoid(z)``); default
            ``optax.adam(0.1)``.
        metric : Metric, optional
            The error to minimise (see :class:`MSEMetric`, :class:`VanRossumMetric`,
            :class:`GammaFactor`; a metric that is not ``differentiable`` is
            searched without gradients).
        resample : float
            Fraction of the candidates replaced each round.
        init : {'lhs', 'uniform'}
            The first candidates: a Latin hypercube, or independent uniform draws.
        seed : int
            Seed of the initial draws and the resampling.
        devices : list of jax.Device, optional
            The devices the candidates are split over (default: all of
            ``jax.devices()``); the result does not depend on their number.

        Returns
        -------
        FitResult
        """
        w = self._where
        metric = self._default_metric() if metric is None else metric
        if not isinstance(metric, Metric):
            raise TypeError(f"{w}: metric must be a brainsim.fitting.Metric such as MSEMetric() "
                            f"or GammaFactor(2. * u.ms), got {metric!r}.")
        metric.check(self.n_traces, self.n_steps)
        bounds = parse_bounds(w, params)
        sim = self._simulator(dict(zip(bounds.names, bounds.units)), self.n_traces)
        inputs, data = jnp.asarray(self.input), self._data()
        dt_s = float(self.dt.to_decimal(u.second))

        def loss(p: dict) -> Any:
            rec, spikes = sim.simulate(p, inputs)
            return metric(self._model_output(rec, spikes), data, dt_s)

        out = search(w, loss, bounds, self.n_samples, n_rounds, optimizer,
                     metric.differentiable, resample, init, seed, devices)
        for h in out["history"]:
            h["params"] = bounds.quantities(h["params"])
        everything = bounds.quantities(out["all"])
        everything["error"] = out["all_error"]
        best = bounds.quantities(out["best"])
        res = FitResult(params=best, error=out["error"], history=out["history"], all=everything,
                        devices=out["devices"])
        self._finish(res)
        return res

    def _finish(self, res: FitResult) -> None:
        pass

    def _run(self, params: dict, input: dict | None) -> tuple[Any, Any]:
        w = self._where
        if input is None:
            x, n = self.input, self.n_traces
        else:
            name, value = _one_entry(w, "input", input)
            if name != self.input_name:
                raise ValueError(f"{w}: generate got input {name!r}, but the model's input is "
                                 f"{self.input_name!r}.")
            x, unit = _traces(w, f"input[{name!r}]", value)
            if unit.dim != self.input_unit.dim:
                raise ValueError(f"{w}: the input has unit {unit}, but the fitter's input has "
                                 f"{self.input_unit}.")
            n = x.shape[0]
        if not isinstance(params, dict) or not params:
            raise TypeError(f"{w}: params must be a dict of values such as result.params, got "
                            f"{params!r}.")
        units = {k: (v.unit if isinstance(v, u.Quantity) else u.UNITLESS)
                 for k, v in params.items()}
        sim = self._simulator(units, n)
        si = {k: jnp.asarray(v.to_decimal(u.Unit(v.dim)) if isinstance(v, u.Quantity) else v,
                             jnp.float32) for k, v in params.items()}
        rec, spikes = jax.jit(sim.simulate)(si, jnp.asarray(x))
        return (sim, rec), np.asarray(spikes)

    @staticmethod
    def _spike_times(spikes: np.ndarray, dt: Any) -> list:
        return [np.nonzero(s > 0.5)[0] * dt for s in spikes]


class TraceFitter(_Fitter):
    r"""Fit a model's parameters to recorded traces, with gradients, many candidates at once.

    Each of ``n_traces`` recordings is one neuron of the model driven by its
    own input trace; the parameters are shared. ``n_samples`` candidate
    parameter sets run in parallel (``jax.vmap`` over the candidates), the
    candidate axis split over the devices when there are several (a
    ``jax.sharding.Mesh`` with one axis, ``'candidates'``; ``n_samples`` is
    then rounded up to a multiple of the device count).

    Parameters
    ----------
    model : str or type
        A model string in the syntax of :class:`brainsim.NeuronGroup` (fitted
        parameters and the input are its parameters, ``'gL : siemens'``, or
        names it uses without defining them), or a neuron class such as
        :class:`brainsim.neurons.AdEx` (fitted parameters are its arguments).
    input : dict
        ``{'I': Quantity [n_traces, T]}``: the input, added each step to the
        named parameter (for a class: passed to its ``update``).
    output : dict
        ``{'v': Quantity [n_traces, T]}``: the recorded variable, sampled at
        the start of each step as :class:`brainsim.runner.StateMonitor` does.
    dt : Quantity (time)
        The recordings' time step, also the simulation's.
    method : str
        Integration method of a model string.
    threshold, reset, refractory
        As in :class:`brainsim.NeuronGroup`.
    param_init : dict, optional
        Initial values of state variables, e.g. ``{'v': -70. * u.mV}``.
    n_samples : int
        Candidates optimised in parallel.
    namespace : dict, optional
        Fixed values of the model string's other names (for a class: its
        other constructor arguments).

    Examples
    --------
    >>> import brainsim, brainunit as u, numpy as np
    >>> from brainsim.fitting import TraceFitter
    >>> eqs = 'dv/dt = (gL * (-70*mV - v) + I) / (200*pF) : volt\ngL : siemens'
    >>> I = np.tile(np.r_[np.zeros(100), np.full(400, 0.2)], (2, 1)) * u.nA
    >>> true = TraceFitter(eqs, {'I': I}, {'v': np.zeros((2, 500)) * u.mV}, dt=0.1 * u.ms,
    ...                    param_init={'v': -70. * u.mV})
    >>> v = true.generate({'gL': 10. * u.nS})
    >>> f = TraceFitter(eqs, {'I': I}, {'v': v}, dt=0.1 * u.ms, param_init={'v': -70. * u.mV},
    ...                 n_samples=8)
    >>> res = f.fit({"gL": [1., 50.] * u.nS}, n_rounds=20)
    >>> bool(abs(res.params['gL'].to_decimal(u.nS) - 10.) < 0.5)
    True
    """

    __module__ = "brainsim.fitting"
    _where = "TraceFitter"

    def __init__(self, model: Any, input: dict, output: dict, dt: Any,
                 method: str = "exponential_euler", threshold: str | None = None,
                 reset: str | None = None, refractory: Any = None,
                 param_init: dict | None = None, n_samples: int = 64, *,
                 namespace: dict | None = None):
        super().__init__(model, input, dt, method, threshold, reset, refractory, param_init,
                         n_samples, namespace)
        self._output_name, out = _one_entry(self._where, "output", output)
        self.output, self.output_unit = _traces(self._where, f"output[{self._output_name!r}]",
                                                out)
        if self.output.shape != self.input.shape:
            raise ValueError(f"TraceFitter: the output traces have shape {self.output.shape} "
                             f"(n_traces, T), but the input traces {self.input.shape}; every "
                             "recording needs its input, of the same length. How to fix: cut "
                             "or pad them to the same shape.")

    def _default_metric(self) -> Metric:
        return MSEMetric()

    def _data(self) -> jnp.ndarray:
        return jnp.asarray(self.output)

    def generate(self, params: dict, input: dict | None = None) -> Any:
        """The recorded variable for ``params`` (Quantities) on ``input`` (default: the
        fitting input), a Quantity ``[n_traces, T]`` in the output's unit."""
        (sim, rec), _ = self._run(params, input)
        rec = np.asarray(rec)
        unit = sim.output_unit
        if unit.dim == u.DIMENSIONLESS:
            return rec
        return u.Quantity(rec, unit=u.Unit(unit.dim)).in_unit(self.output_unit) \
            if self.output_unit.dim == unit.dim else u.Quantity(rec, unit=u.Unit(unit.dim))


class SpikeFitter(_Fitter):
    r"""Fit a model's parameters to recorded spike times.

    As :class:`TraceFitter`, with ``output_spikes`` instead of traces. The
    default metric is the smooth van Rossum distance
    (:class:`VanRossumMetric`), differentiable through the model's surrogate
    spike function; :class:`GammaFactor` as ``metric=`` searches without
    gradients. The result's ``gamma`` is the gamma factor (window ``delta``,
    rate-corrected) of the best parameters on the training data. The
    parameters not listed here are those of :class:`TraceFitter`.

    Parameters
    ----------
    output_spikes : list of Quantity (time)
        One array of spike times per trace.
    delta : Quantity (time)
        Coincidence window of the reported gamma factor.
    tau : Quantity (time)
        Kernel time constant of the default van Rossum metric.
    """

    __module__ = "brainsim.fitting"
    _where = "SpikeFitter"

    def __init__(self, model: Any, input: dict, output_spikes: Any, dt: Any,
                 method: str = "exponential_euler", threshold: str | None = None,
                 reset: str | None = None, refractory: Any = None,
                 param_init: dict | None = None, n_samples: int = 64, *,
                 namespace: dict | None = None, delta: Any = 2. * u.ms, tau: Any = 5. * u.ms):
        super().__init__(model, input, dt, method, threshold, reset, refractory, param_init,
                         n_samples, namespace)
        if isinstance(model, str) and threshold is None:
            raise ValueError("SpikeFitter: a model string needs a threshold (and usually a "
                             "reset) to spike, e.g. threshold='v > -50*mV', reset='v = -70*mV'.")
        if not isinstance(output_spikes, (list, tuple)) or len(output_spikes) != self.n_traces:
            raise ValueError(f"SpikeFitter: output_spikes must be a list of {self.n_traces} "
                             f"spike-time arrays, one per input trace, got {output_spikes!r}.")
        duration = self.n_steps * dt
        self.output_spikes, binned = [], np.zeros((self.n_traces, self.n_steps), np.float32)
        for k, t in enumerate(output_spikes):
            if not (isinstance(t, u.Quantity) and t.dim == u.second.dim):
                raise TypeError(f"SpikeFitter: output_spikes[{k}] must be spike times as a "
                                f"time Quantity, got {t!r}.")
            idx = np.rint(np.asarray(t / dt, np.float64).reshape(-1)).astype(int)
            if np.any(idx < 0) or np.any(idx >= self.n_steps):
                raise ValueError(f"SpikeFitter: output_spikes[{k}] has times outside the "
                                 f"recording [0, {duration}).")
            binned[k, idx] = 1.
            self.output_spikes.append(t)
        self._binned = binned
        self.gamma_metric = GammaFactor(delta)
        self.tau = tau

    def _default_metric(self) -> Metric:
        return VanRossumMetric(self.tau)

    def _data(self) -> jnp.ndarray:
        return jnp.asarray(self._binned)

    def _model_output(self, rec: Any, spikes: Any) -> Any:
        return spikes

    def _finish(self, res: FitResult) -> None:
        times = self.generate(res.params)
        dur = self.n_steps * self.dt
        res.gamma = float(np.mean([gamma_factor(m, d, self.gamma_metric.delta, dur)
                                   for m, d in zip(times, self.output_spikes)]))

    def generate(self, params: dict, input: dict | None = None) -> list:
        """Spike times for ``params`` on ``input`` (default: the fitting input), one
        time Quantity per trace."""
        _, spikes = self._run(params, input)
        return self._spike_times(spikes, self.dt)
