"""Input sources: Poisson spikes, spikes at given times, and current waveforms."""
from __future__ import annotations

from typing import Any, Sequence

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import environ
from .. import random as bsr
from .._checks import check_rate_per_step
from .._dynamics import DynamicsModule
from .._state import ShortTermState

__all__ = ["PoissonSpike", "SpikeTimeGenerator", "constant_input", "section_input",
           "ramp_input"]


class PoissonSpike(DynamicsModule):
    r"""Independent Poisson spike trains.

    Each step every unit spikes with probability :math:`f\,\Delta t`.

    Parameters
    ----------
    in_size : int or tuple of int
    freqs : Quantity (frequency)
        Rates, a scalar or of shape ``in_size``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> brainsim.random.seed(0)
    >>> p = brainsim.init_states(brainsim.neurons.PoissonSpike(1000, 50. * u.Hz))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     s = brainsim.for_loop(lambda: p(), length=200)
    >>> 40 < float(s.mean()) * 1000 < 60
    True
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: Any, freqs: Any, name: str | None = None):
        super().__init__(in_size, name=name)
        if not (isinstance(freqs, u.Quantity) and freqs.unit.has_same_dim(u.Hz)):
            raise ValueError(f"PoissonSpike: freqs must be a frequency such as 10. * u.Hz, "
                             f"got {freqs!r}.")
        if not isinstance(freqs.mantissa, jax.core.Tracer) and not np.all(np.asarray(freqs.mantissa) >= 0):
            raise ValueError(f"PoissonSpike: freqs must be non-negative rates, got {freqs!r}.")
        self.freqs = freqs

    def init_state(self, batch_size: int | None = None) -> None:
        self.spike = ShortTermState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def update(self) -> jax.Array:
        """Draw this step's spikes; return them (float 0/1, shape ``[*batch, *in_size]``)."""
        check_rate_per_step("PoissonSpike", "freqs", self.freqs)
        p = u.maybe_decimal(self.freqs * environ.get_dt())
        spike = (bsr.rand(*self.spike.value.shape) < p).astype(jnp.float32)
        self.spike.value = spike
        return spike

    def get_spike(self) -> jax.Array:
        """The spikes of the last step.

        Returns
        -------
        jax.Array
            Float 0/1 of shape ``[*batch, *in_size]`` (zeros before the first step).
        """
        return self.spike.value


class SpikeTimeGenerator(DynamicsModule):
    """Emit spikes of given units at given times.

    Parameters
    ----------
    in_size : int
        Number of units.
    indices : sequence of int
        The unit of each spike.
    times : Quantity (time), same length
        The time of each spike; rounded to the nearest step.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> g = brainsim.init_states(brainsim.neurons.SpikeTimeGenerator(
    ...     3, indices=[0, 2], times=[1., 3.] * u.ms))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     s = brainsim.for_loop(lambda: g(), length=5)
    >>> s.nonzero()[0].tolist(), s.nonzero()[1].tolist()
    ([1, 3], [0, 2])
    """

    __module__ = "brainsim.neurons"

    def __init__(self, in_size: int, indices: Sequence[int], times: Any, name: str | None = None):
        super().__init__(in_size, name=name)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if not (isinstance(times, u.Quantity) and times.unit.has_same_dim(u.second)):
            raise ValueError(f"SpikeTimeGenerator: times must be a time quantity such as "
                             f"[1., 2.] * u.ms, got {times!r}.")
        if idx.shape[0] != np.size(times.mantissa):
            raise ValueError(f"SpikeTimeGenerator: indices has {idx.shape[0]} entries but times "
                             f"has {np.size(times.mantissa)}; give one time per spike.")
        if idx.size and (idx.min() < 0 or idx.max() >= int(np.prod(self.varshape))):
            raise ValueError(f"SpikeTimeGenerator: indices must lie in [0, {self.varshape[0]}), "
                             f"got {idx.min()}..{idx.max()}.")
        t_ms = np.asarray(times.to_decimal(u.ms), dtype=np.float64).reshape(-1)
        bad = ~np.isfinite(t_ms) | (t_ms < 0)
        if bad.any():
            k = int(np.argmax(bad))
            raise ValueError(f"SpikeTimeGenerator: times must be finite and non-negative; spike "
                             f"{k} (neuron {idx[k]}) is at {t_ms[k]} ms. How to fix: remove it "
                             "or shift the times so that the first spike is at t >= 0.")
        self.indices = jnp.asarray(idx, jnp.int32)
        self.times = times
        self._bs_steps: tuple = (None, None, None)   # (dt in ms, times, checked steps)

    def _spike_steps(self) -> np.ndarray:
        """Each spike's step at the dt in force; two spikes of a neuron in one step are refused."""
        dt = environ.get_dt()
        with jax.ensure_compile_time_eval():
            dt_ms = float(dt.to_decimal(u.ms))
            if self._bs_steps[0] == dt_ms and self._bs_steps[1] is self.times:
                return self._bs_steps[2]
            steps = np.asarray(jnp.round(self.times / dt).astype(jnp.int32)).reshape(-1)
        idx = np.asarray(self.indices)
        order = np.lexsort((steps, idx))
        same = (np.diff(idx[order]) == 0) & (np.diff(steps[order]) == 0)
        if same.any():
            a, b = order[int(np.argmax(same))], order[int(np.argmax(same)) + 1]
            t = np.asarray(self.times.to_decimal(u.ms)).reshape(-1)
            raise ValueError(
                f"SpikeTimeGenerator: neuron {idx[a]} has two spikes, at {t[a]:.6g} ms and "
                f"{t[b]:.6g} ms, in the same time step (step {steps[a]} with dt={dt_ms:.6g} ms); "
                "a neuron can emit one spike per step, so one would be lost. How to fix: use a "
                "smaller dt, or remove or merge the duplicate spike times.")
        self._bs_steps = (dt_ms, self.times, steps)
        return steps

    def init_state(self, batch_size: int | None = None) -> None:
        try:
            environ.get_dt()
        except ValueError:
            pass              # no dt yet: checked at the first step
        else:
            self._spike_steps()
        self.step = ShortTermState(jnp.zeros((), jnp.int32))
        self.spike = ShortTermState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def update(self) -> jax.Array:
        """Emit the spikes that fall on this step; return them (float 0/1, shape ``in_size``)."""
        steps = jnp.asarray(self._spike_steps())
        hit = (steps == self.step.value).astype(jnp.float32)
        spike = jnp.zeros(self.varshape, jnp.float32).at[self.indices].add(hit)
        spike = jnp.broadcast_to(spike, self.spike.value.shape)
        self.step.value = self.step.value + 1
        self.spike.value = spike
        return spike

    def get_spike(self) -> jax.Array:
        """The spikes of the last step.

        Returns
        -------
        jax.Array
            Float 0/1 of shape ``[*batch, *in_size]`` (zeros before the first step).
        """
        return self.spike.value


def _steps(duration: Any) -> int:
    return int(round(float(duration / environ.get_dt())))


def constant_input(value: Any, duration: Any) -> Any:
    """A constant current of ``duration`` as an array of shape ``[steps, *value.shape]``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     I = brainsim.neurons.constant_input(2. * u.nA, 1. * u.ms)
    >>> I.shape
    (10,)
    """
    return section_input([value], [duration])


def section_input(values: Sequence[Any], durations: Sequence[Any]) -> Any:
    """Piecewise-constant current: ``values[k]`` for ``durations[k]``, concatenated.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     I = brainsim.neurons.section_input([0. * u.nA, 1. * u.nA], [2. * u.ms, 1. * u.ms])
    >>> I.to_decimal(u.nA).tolist()
    [0.0, 0.0, 1.0]
    """
    if len(values) != len(durations):
        raise ValueError(f"section_input: {len(values)} values but {len(durations)} durations.")
    unit = u.get_unit(values[0])
    parts = []
    for v, d in zip(values, durations):
        m = jnp.asarray(v.to_decimal(unit) if isinstance(v, u.Quantity) else v, jnp.float32)
        parts.append(jnp.broadcast_to(m, (_steps(d),) + m.shape))
    out = jnp.concatenate(parts, axis=0)
    return u.Quantity(out, unit=unit) if isinstance(values[0], u.Quantity) else out


def ramp_input(c_start: Any, c_end: Any, duration: Any) -> Any:
    """A current rising linearly from ``c_start`` to ``c_end`` over ``duration``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     I = brainsim.neurons.ramp_input(0. * u.nA, 3. * u.nA, 4. * u.ms)
    >>> I.to_decimal(u.nA).tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    n = _steps(duration)
    unit = u.get_unit(c_start)
    a = c_start.to_decimal(unit) if isinstance(c_start, u.Quantity) else c_start
    b = c_end.to_decimal(unit) if isinstance(c_end, u.Quantity) else c_end
    out = jnp.linspace(a, b, n, dtype=jnp.float32)
    return u.Quantity(out, unit=unit) if isinstance(c_start, u.Quantity) else out
