"""Input sources: Poisson spikes, spikes at given times, and current waveforms."""
from __future__ import annotations

from typing import Any, Sequence

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import environ
from .. import random as bsr
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
        p = u.maybe_decimal(self.freqs * environ.get_dt())
        spike = (bsr.rand(*self.spike.value.shape) < p).astype(jnp.float32)
        self.spike.value = spike
        return spike

    def get_spike(self) -> jax.Array:
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
        self.indices = jnp.asarray(idx, jnp.int32)
        self.times = times

    def init_state(self, batch_size: int | None = None) -> None:
        self.step = ShortTermState(jnp.zeros((), jnp.int32))
        self.spike = ShortTermState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def update(self) -> jax.Array:
        with jax.ensure_compile_time_eval():
            steps = jnp.round(self.times / environ.get_dt()).astype(jnp.int32).reshape(-1)
        hit = (steps == self.step.value).astype(jnp.float32)
        spike = jnp.zeros(self.varshape, jnp.float32).at[self.indices].add(hit)
        spike = jnp.broadcast_to(jnp.minimum(spike, 1.), self.spike.value.shape)
        self.step.value = self.step.value + 1
        self.spike.value = spike
        return spike

    def get_spike(self) -> jax.Array:
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
