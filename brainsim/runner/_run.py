"""Run a model for a duration with a progress bar, recording what the monitors ask for.

Recording-time convention (Brian2's): a state monitor records the state at the
start of each step, before the update (``values[k]`` holds at ``t[k]``); the
spikes emitted during step ``k`` are stamped ``t0 + k * dt``. The model keeps
its time: a second run continues the clock where the first one stopped, and
``init_states``/``reset_states`` put it back to 0.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .. import environ
from .._module import Module
from ..transforms import ProgressBar, jit, scan
from . import _memory
from ._monitors import RateMonitor, SpikeMonitor, StateMonitor
from ._stream import H5Sink

__all__ = ["Runner", "run", "RunResult"]

_STREAM_CHUNK_BYTES = 64 << 20   # records per streamed chunk, all monitors together
_CLOCK_ATTR = "_bs_time_ms"      # the model's elapsed time; init_states/reset_states drop it


class RunResult(dict):
    """What :func:`run` returns: a dict of records plus ``t``, the start time of each step."""

    __module__ = "brainsim.runner"

    def __init__(self, t: Any, records: dict):
        super().__init__(records)
        self.t = t

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _as_monitor(name: str, m: Any) -> Any:
    if isinstance(m, (SpikeMonitor, StateMonitor, RateMonitor)):
        return m
    if callable(m) or hasattr(m, "value"):
        return StateMonitor(m)
    raise TypeError(f"monitor {name!r}: expected a SpikeMonitor, StateMonitor, RateMonitor, a "
                    f"State or a callable, got {type(m).__name__}.")


def _whole_steps(ratio: float) -> tuple[int, bool]:
    # Durations and dt are decimal numbers, so duration / dt is whole only up to rounding
    # (float64: ~1e-16 relative; a float32 mantissa: ~1e-7).
    steps = int(round(ratio))
    return steps, abs(ratio - steps) <= min(0.01, 1e-6 * max(1., abs(ratio)))


def _fmt_ms(x: float) -> str:
    return f"{x:.12g} ms"


def _duration_steps(duration: Any, dt: Any, owner: str = "run", name: str = "duration") -> int:
    """``duration / dt`` as a whole number of steps; anything else is refused."""
    if not (isinstance(duration, u.Quantity) and duration.unit.has_same_dim(u.second)):
        raise ValueError(f"{owner}: {name} must be a time quantity such as 1000. * u.ms "
                         f"(import brainunit as u); got {duration!r}.")
    d = np.asarray(duration.to_decimal(u.ms), np.float64)
    if d.ndim:
        raise ValueError(f"{owner}: {name} must be a scalar time, got shape {d.shape}.")
    if not np.isfinite(d):
        raise ValueError(f"{owner}: {name} must be a finite time such as 1000. * u.ms, got "
                         f"{duration!r}.")
    dt_ms = float(np.asarray(dt.to_decimal(u.ms), np.float64))
    ratio = float(d) / dt_ms
    steps, whole = _whole_steps(ratio)
    if ratio < 0.5:
        raise ValueError(f"{owner}: {name} must be at least one time step ({dt}), got "
                         f"{duration}.")
    if not whole:
        lo, hi = math.floor(ratio), math.ceil(ratio)
        near = " or ".join(f"{name}={_fmt_ms(k * dt_ms)}" for k in (lo, hi) if k > 0)
        raise ValueError(
            f"{owner}: {name}={duration!r} is not a whole number of time steps (dt={dt}; "
            f"{ratio:.6g} steps). Durations are not rounded: give a multiple of dt, e.g. {near}.")
    return steps


def _start_step(model: Any, dt_ms: float, steps: int) -> int:
    t_ms = float(getattr(model, _CLOCK_ATTR, 0.))
    i0, whole = _whole_steps(t_ms / dt_ms)
    if not whole:
        raise ValueError(
            f"run: the model's clock is at {_fmt_ms(t_ms)}, which is not a whole number of "
            f"steps of dt={_fmt_ms(dt_ms)} (dt changed between runs). Call "
            "brainsim.reset_states(model) to restart the clock at 0, or use a dt that divides it.")
    if i0 + steps >= 2 ** 31:
        raise ValueError(f"run: the clock would pass 2**31 steps ({i0} + {steps}); reset the "
                         "model's states or use a larger dt.")
    return i0


def _samples(i0: int, n: int, every: int) -> tuple[int, int]:
    """First sample index and sample count of steps ``i0 .. i0+n-1`` with ``i % every == 0``."""
    first = -(-i0 // every)
    return first, -(-(i0 + n) // every) - first


def _first_rows(buf: Any, count: int) -> Any:
    # a run that starts off the monitor's grid fills one row less than the buffer holds;
    # slice only then, as slicing copies the whole record
    return buf if count == buf.shape[0] else buf[:count]


def _gathered(tree: Any) -> Any:
    """Records split over several processes, gathered whole into every process."""
    leaves = jax.tree_util.tree_leaves(tree)
    if all(getattr(x, "is_fully_addressable", True) for x in leaves):
        return tree
    from jax.experimental import multihost_utils
    return jax.tree_util.tree_map(
        lambda x: x if getattr(x, "is_fully_addressable", True)
        else multihost_utils.process_allgather(x, tiled=True), tree)


def _mantissa(x: Any) -> Any:
    return u.get_mantissa(x)


class Runner:
    """Advance ``model`` step by step, recording its monitors; compiled once per run length.

    A :class:`StateMonitor` records the state at the start of each step, before
    the update, so ``values[k]`` holds at ``t[k] = t0 + k * every * dt``
    (``values[0]`` is the state the run starts from; a run of ``n`` steps gives
    ``ceil(n / every)`` samples); the spikes emitted during step ``k`` are
    stamped ``t0 + k * dt``. ``t0`` is the model's time when the run starts:
    successive runs continue the clock (also through :func:`run`), and
    ``init_states``/``reset_states`` restart it at 0. A decimated monitor keeps
    the grid of multiples of ``every * dt`` across runs, so a run that starts off
    that grid begins at its next point (see :class:`StateMonitor`).

    Parameters
    ----------
    model : DynamicsModule
        Called as ``model(*inputs_at_step)`` once per step.
    monitors : dict, optional
        ``name -> SpikeMonitor | StateMonitor | RateMonitor | State | callable``.
    inputs : callable or arrays, optional
        A callable ``inputs(t)`` returning the step's arguments (a tuple or one
        value), evaluated inside the loop with the model's time ``t``; or an
        array (or tuple of arrays) with one row per step of the run.
    progress : bool
        Show a progress bar (a few dozen host callbacks per run, not one per step).
    live : brainsim.plot.LivePlot, optional
        Draw the monitors while the run goes on: the run goes in compiled chunks of
        ``live.refresh``, and each chunk's records are drawn as one frame on the host
        while the next chunk computes. The records are the same as without it.

    Raises
    ------
    ValueError
        At :meth:`run`, before anything runs, when the records cannot fit in the
        available memory (see :func:`brainsim.runner.available_memory`).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> from brainsim import neurons, runner
    >>> brainsim.environ.set(dt=0.1 * u.ms)
    >>> n = brainsim.init_states(neurons.LIF(10))
    >>> r = runner.Runner(n, monitors={'spk': runner.SpikeMonitor(n)},
    ...                   inputs=lambda t: 2. * u.mV, progress=False)
    >>> res = r.run(100. * u.ms)
    >>> res.t.shape, res['spk'].count > 0
    ((1000,), True)
    >>> float(r.run(10. * u.ms).t[0].to_decimal(u.ms))     # the clock continues
    100.0
    """

    __module__ = "brainsim.runner"

    def __init__(self, model: Any, *, monitors: dict | None = None, inputs: Any = None,
                 progress: bool = True, live: Any = None):
        if not callable(model):
            raise TypeError(f"Runner: model must be a brainsim.DynamicsModule, got "
                            f"{type(model).__name__}.")
        if monitors is not None and not isinstance(monitors, dict):
            raise TypeError(f"Runner: monitors must be a dict name -> monitor, got "
                            f"{type(monitors).__name__}.")
        self.model = model
        self.monitors = {k: _as_monitor(k, m) for k, m in (monitors or {}).items()}
        self.inputs = inputs
        self.progress = bool(progress)
        if live is not None and not all(hasattr(live, a) for a in ("start", "update", "finish",
                                                                    "refresh")):
            raise TypeError(f"Runner: live must be a brainsim.plot.LivePlot, got "
                            f"{type(live).__name__}.")
        self.live = live
        self._compiled: dict[tuple, tuple[Callable, Any]] = {}

    # -- inputs ---------------------------------------------------------------------
    def _xs(self, steps: int) -> tuple:
        if self.inputs is None or callable(self.inputs):
            return ()
        xs = self.inputs if isinstance(self.inputs, tuple) else (self.inputs,)
        for leaf in jax.tree_util.tree_leaves(xs):
            shape = np.shape(leaf)
            if not shape:
                raise ValueError(
                    "run: inputs given as arrays need one row per step; got a scalar. For a "
                    "constant input pass a callable, e.g. inputs=lambda t: 2. * u.mV.")
            if shape[0] != steps:
                raise ValueError(
                    f"run: inputs have {shape[0]} rows, the run has {steps} steps; give one "
                    "row per step (or a callable inputs(t)).")
        return xs

    def _args(self, x: Any) -> tuple:
        if self.inputs is None:
            return ()
        out = self.inputs(environ.get_t()) if callable(self.inputs) else \
            (x[0] if len(x) == 1 else x)
        return out if isinstance(out, tuple) else (out,)

    # -- the compiled loop ----------------------------------------------------------
    def _build(self, n: int, show: bool) -> tuple[Callable, Any]:
        """A compiled ``(i0, xs) -> (decimated buffers, per-step records)`` for ``n`` steps."""
        start = {k: m for k, m in self.monitors.items() if m.when == "start"}
        end = {k: m for k, m in self.monitors.items() if m.when == "end"}
        bar = ProgressBar(n, desc="run") if show else False

        def loop(i0, xs):
            every = {k: m.every for k, m in start.items() if m.every > 1}
            first = {k: -(-i0 // e) for k, e in every.items()}
            # Decimated records go into buffers carried by the loop and written in place
            # on the steps they sample: their memory is the decimated size, not n rows.
            bufs0 = {k: jnp.zeros((-(-n // e),) + start[k].shape, start[k].dtype)
                     for k, e in every.items()}

            def body(bufs, x):
                i = environ.get_i()
                ys, new = {}, {}
                for k, m in start.items():
                    if k not in every:
                        ys[k] = _mantissa(m.record())
                        continue

                    def write(b, m=m, k=k):
                        v = jnp.asarray(_mantissa(m.record()), b.dtype)
                        return jax.lax.dynamic_update_index_in_dim(
                            b, v, i // every[k] - first[k], 0)
                    new[k] = jax.lax.cond(i % every[k] == 0, write, lambda b: b, bufs[k])
                self.model(*self._args(x))
                for k, m in end.items():
                    ys[k] = _mantissa(m.record())
                return new, ys

            return scan(body, bufs0, xs, length=n, i0=i0, progress=bar)

        return jit(loop), bar

    def _call(self, n: int, i0: int, xs: tuple, show: bool) -> tuple[dict, dict]:
        key = (n, show)
        if key not in self._compiled:
            self._compiled[key] = self._build(n, show)
        fn, bar = self._compiled[key]
        if bar:
            bar.start = i0    # the bar counts from the loop index of the first step
        # a NumPy scalar, not jnp.asarray: no dispatch of its own (a chunked run calls this
        # once per chunk)
        return fn(np.int32(i0), xs)

    # -- a run ----------------------------------------------------------------------
    def run(self, duration: Any) -> RunResult:
        """Run for ``duration`` from the model's current time and return the records.

        Parameters
        ----------
        duration : Quantity (time)
            A whole number of steps of ``dt`` (others are refused, not rounded).

        Returns
        -------
        RunResult
            The records by monitor name and ``.t``, the start time of each step
            of this run, ``t0 + k * dt`` (Quantity, ms).
        """
        dt = environ.get_dt()
        dt_ms = float(np.asarray(dt.to_decimal(u.ms), np.float64))
        steps = _duration_steps(duration, dt)
        i0 = _start_step(self.model, dt_ms, steps)
        xs = self._xs(steps)
        for m in self.monitors.values():
            m.prepare()
        plan = {k: _samples(i0, steps, m.every) for k, m in self.monitors.items()}
        streamed = {k for k, m in self.monitors.items() if m.path is not None}
        chunk = steps
        if streamed:
            per_step = sum(m.row_bytes / m.every for m in self.monitors.values())
            chunk = int(max(1, min(steps, _STREAM_CHUNK_BYTES // max(per_step, 1.))))
        if self.live is not None:
            chunk = min(chunk, _duration_steps(self.live.refresh, dt, "LivePlot", "refresh"))
        sizes = {}
        for k, m in self.monitors.items():
            rows = plan[k][1] if k not in streamed else 2 * -(-chunk // m.every)
            sizes[k] = (rows * m.row_bytes, f"{rows} x {m.shape} {m.dtype} values")
        sizes["(time axis)"] = (8 * steps, f"{steps} float64 times")
        _memory.check_records_fit(sizes, _memory.available_memory())

        # a streamed record goes through the chunked run even when it fits in one chunk: that
        # run is the one that opens the file and writes it
        if chunk == steps and not streamed and self.live is None:
            bufs, ys = _gathered(self._call(steps, i0, xs, self.progress))
            data = {**ys, **{k: _first_rows(b, plan[k][1]) for k, b in bufs.items()}}
        else:
            data = self._run_chunked(steps, i0, xs, chunk, plan, streamed, dt_ms)
        t = (i0 + np.arange(steps)) * dt_ms * u.ms
        records = {}
        for k, m in self.monitors.items():
            first, count = plan[k]
            tk = t if m.every == 1 else (first + np.arange(count)) * (m.every * dt_ms) * u.ms
            records[k] = m.finish(data.get(k), tk, dt)
        self._set_time((i0 + steps) * dt_ms)
        return RunResult(t, records)

    def _run_chunked(self, steps: int, i0: int, xs: tuple, chunk: int, plan: dict,
                     streamed: set, dt_ms: float) -> dict:
        """Run in chunks, each with one host transfer of its records; stream or show them.

        A chunk is dispatched before the previous one is written out or drawn, so the host
        work overlaps with the compiled loop (JAX dispatches asynchronously).
        """
        sinks, kept = {}, {k: [] for k in self.monitors if k not in streamed}
        live = self.live
        try:
            for k in streamed:
                m = self.monitors[k]
                first, count = plan[k]
                sinks[k] = H5Sink(m.path, count, m.shape, m.dtype, m.unit,
                                  (first + np.arange(count)) * m.every * dt_ms, m.every, dt_ms)
            if live is not None:
                live.start(self.monitors, i0 * dt_ms, (i0 + steps) * dt_ms, dt_ms)
            bar = ProgressBar(steps, desc="run") if self.progress else None

            def absorb(a, c, out):
                bufs, ys = jax.device_get(_gathered(out))
                rows = {}
                for k, m in self.monitors.items():
                    rows[k] = np.asarray(ys[k] if k in ys else
                                         _first_rows(bufs[k], _samples(i0 + a, c, m.every)[1]))
                    (sinks[k].write if k in streamed else kept[k].append)(rows[k])
                if live is not None:
                    live.update(self._chunk_rows(rows, i0 + a, c, dt_ms))
                if bar:
                    bar.update(a + c)

            pending = None
            for a in range(0, steps, chunk):
                c = min(chunk, steps - a)
                part = tuple(jax.tree_util.tree_map(lambda x: x[a:a + c], x) for x in xs)
                out = self._call(c, i0 + a, part, False)
                if pending is not None:
                    absorb(*pending)
                pending = (a, c, out)
            absorb(*pending)
        finally:
            for s in sinks.values():
                s.close()
            if live is not None:
                live.finish()
        return {k: np.concatenate(v) for k, v in kept.items()}

    def _chunk_rows(self, rows: dict, i0: int, n: int, dt_ms: float) -> dict:
        """Steps ``i0 .. i0+n-1``: each kept monitor's rows with their times (ms), for drawing.

        Plain arrays, not records: building a record's quantities costs more per chunk
        than the chunk's drawing data is worth to the run.
        """
        out = {}
        for k, m in self.monitors.items():
            if m.path is not None:
                continue     # a streamed trace is read from its file after the run
            first, count = _samples(i0, n, m.every)
            out[k] = (rows[k], (first + np.arange(count)) * (m.every * dt_ms))
        return out

    def _set_time(self, t_ms: float) -> None:
        if isinstance(self.model, Module):
            object.__setattr__(self.model, _CLOCK_ATTR, t_ms)
        else:
            try:
                setattr(self.model, _CLOCK_ATTR, t_ms)
            except AttributeError:
                pass   # a callable without attributes restarts at 0 every run


def run(model: Any, duration: Any, *, inputs: Any = None, monitors: dict | None = None,
        progress: bool = True, live: Any = None) -> RunResult:
    """Run ``model`` for ``duration`` from its current time and return the time axis and records.

    A shortcut for ``Runner(model, monitors=..., inputs=..., progress=...).run(duration)``;
    keep a :class:`Runner` to run again without recompiling. A monitor records
    the state at the start of each step (``values[k]`` holds at
    ``t[k] = t0 + k * every * dt``); spikes emitted during step ``k`` are
    stamped ``t0 + k * dt``. ``t0`` is the model's time: a second ``run`` of
    the same model continues from where the first stopped, as Brian2's network
    time does; ``init_states``/``reset_states`` restart it at 0.

    Parameters
    ----------
    model : DynamicsModule
        Its ``update`` is called once per step (``dt`` from ``brainsim.environ``).
    duration : Quantity (time)
        A whole number of steps of ``dt``.
    inputs : callable ``inputs(t)`` or arrays with one row per step, optional
    monitors : dict, optional
        See :class:`Runner`.
    progress : bool
    live : brainsim.plot.LivePlot, optional
        Draw the monitors while the run goes on (see :class:`Runner`).

    Returns
    -------
    RunResult
        A dict of records (``SpikeRecord``, ``Trace``, ``Rate``) with ``.t``
        (Quantity, ms) the start time of each step.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> from brainsim import neurons, runner
    >>> brainsim.environ.set(dt=0.1 * u.ms)
    >>> n = brainsim.init_states(neurons.LIF(5))
    >>> res = runner.run(n, 20. * u.ms, inputs=lambda t: 2. * u.mV,
    ...                  monitors={'V': runner.StateMonitor(n.V, [0, 1], every=10)},
    ...                  progress=False)
    >>> res['V'].values.shape, res['V'].t[:3].to_decimal(u.ms).tolist()
    ((20, 2), [0.0, 1.0, 2.0])
    """
    return Runner(model, monitors=monitors, inputs=inputs, progress=progress,
                  live=live).run(duration)
