"""Clocks: a module that runs on its own time step, an integer multiple ``k`` of the network's.

Every :class:`~brainsim.DynamicsModule` and every projection takes ``dt=`` at
construction. Called on every network step, such a module is updated only on
the steps where ``t`` is a multiple of its ``dt`` (steps ``0, k, 2k, ...``),
with a step of its ``dt``, and stands still in between:

- what arrives between two updates is collected and handed to the next one:
  jumps registered with ``add_delta_input`` (and, on a NeuronGroup, jumps to
  its variables) are summed; a projection adds up its presynaptic spikes and
  delivers the counts (so a neuron that fires twice in one period counts
  twice). Currents are sampled at the update steps;
- states written by the update keep their values on the other steps, except
  a state named ``spike``, which is 0 there: a slow neuron's spike is seen
  once, on the step it fires;
- the call returns zeros (no spikes) on the steps it is not updated.

So no spike is lost or duplicated where modules of different clocks meet.
The update is computed and masked on every step, so a slower clock changes
what is computed, not how long a step takes.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from . import environ
from ._state import HiddenState, StateTrace

__all__ = ["Clocked"]

# the key under which a clocked module hands its collected jumps to its update
_RELEASE_KEY = "_bs_clock_release"
# the attributes holding what a clock collects between updates: never masked
_COLLECTING = ("clock_pending", "clock_spikes")
# while clocked updates run: the network's dt, and whether each of them is really updated
_NETWORK_DT: list = []
_GATES: list = []


def gate(inp: Any) -> Any:
    """An input registered by a clocked update: zero on the steps that update is masked."""
    if not _GATES:
        return inp
    gates = list(_GATES)
    if callable(inp):
        return lambda *a, **k: _gated(gates, inp(*a, **k))
    return _gated(gates, inp)


def _gated(gates: list, value: Any) -> Any:
    for active in gates:
        if active is not True:
            value = _zero_unless(active, value)
    return value


def _check_clock_dt(where: str, dt: Any) -> Any:
    ok = isinstance(dt, u.Quantity) and dt.unit.has_same_dim(u.second) and dt.ndim == 0
    if not ok or not float(dt.to_decimal(u.ms)) > 0:
        raise ValueError(f"{where}: dt must be a positive scalar time, a multiple k of the "
                         f"network's dt (e.g. dt=0.5 * u.ms), got {dt!r}.")
    return dt


def _is_leaf(x: Any) -> bool:
    return isinstance(x, u.Quantity)


def _where(active: Any, new: Any, old: Any) -> Any:
    def leaf(n: Any, o: Any) -> Any:
        if isinstance(n, u.Quantity):
            o = o.to_decimal(n.unit) if isinstance(o, u.Quantity) else o
            return u.Quantity(jnp.where(active, n.mantissa, o), unit=n.unit)
        return jnp.where(active, n, o)
    return jax.tree_util.tree_map(leaf, new, old, is_leaf=_is_leaf)


def _zero_unless(active: Any, new: Any) -> Any:
    def leaf(n: Any) -> Any:
        if isinstance(n, u.Quantity):
            return u.Quantity(jnp.where(active, n.mantissa, 0), unit=n.unit)
        if n is None:
            return None
        n = jnp.asarray(n)
        return jnp.where(active, n, jnp.zeros_like(n))
    return jax.tree_util.tree_map(leaf, new, is_leaf=_is_leaf)


def clock_of(module: Any) -> Any:
    """The ``dt`` a module runs on: its own, else that of the nearest clocked ancestor."""
    while module is not None:
        dt = module.__dict__.get("_bs_clock_dt")
        if dt is not None:
            return dt
        parent = module.__dict__.get("_bs_parent")
        module = parent() if parent is not None else None
    return None


def _network_dt() -> Any:
    return _NETWORK_DT[-1] if _NETWORK_DT else environ.get_dt()


def _steps_per_update(module: Any, own: Any) -> int:
    net = _network_dt()
    with jax.ensure_compile_time_eval():
        ratio = float(own / net)
    k = int(round(ratio))
    if k < 1 or abs(ratio - k) > 1e-4 * k:
        raise ValueError(
            f"{type(module).__name__} '{module._path()}': dt={own} must be an integer multiple of "
            f"the network's dt={net} (their ratio is {ratio:.6g}). How to fix: give the module "
            f"dt=k * network dt with a whole k >= 1, e.g. dt={max(k, 1)} * ({net}).")
    return k


def _active(k: int) -> Any:
    """Whether the module is updated on this step: ``t`` is a multiple of its ``dt``."""
    try:
        t = environ.get_t()
    except ValueError:   # outside a loop there is no clock: every call is an update
        return True
    net = _network_dt()
    step = jnp.round(u.maybe_decimal(t / net)).astype(jnp.int32)
    return jnp.mod(step, k) == 0


class Clocked:
    """Mixin that gives a module ``dt=`` at construction and its own clock (see module doc)."""

    _bs_clock_dt = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("__init__")
        if own is None or getattr(own, "_bs_takes_dt", False):
            return
        sig = inspect.signature(own)
        if "dt" in sig.parameters:   # the class handles dt= itself
            return

        @functools.wraps(own)
        def __init__(self: Any, *args: Any, dt: Any = None, **kw: Any) -> None:
            own(self, *args, **kw)
            if dt is not None:
                object.__setattr__(self, "_bs_clock_dt",
                                   _check_clock_dt(type(self).__name__, dt))

        __init__._bs_takes_dt = True
        params = list(sig.parameters.values())
        pos = next((i for i, p in enumerate(params) if p.kind == p.VAR_KEYWORD), len(params))
        params.insert(pos, inspect.Parameter("dt", inspect.Parameter.KEYWORD_ONLY, default=None))
        __init__.__signature__ = sig.replace(parameters=params)
        cls.__init__ = __init__

    @property
    def dt(self) -> Any:
        """The module's own time step (``dt=`` at construction), or None for the network's."""
        return self._bs_clock_dt

    # -- what a clocked module collects between its updates -----------------
    def _bs_clock_inputs(self) -> dict[str, dict]:
        """Tables of plain jumps (key -> value) to collect between updates, by channel."""
        return {}

    def _bs_clock_shape(self, channel: str, batch_size: int | None) -> tuple[int, ...]:
        return self.batched_shape(batch_size)

    def _bs_init_clock(self, batch_size: int | None) -> None:
        """Create the states that hold what arrives between two updates (by init_states)."""
        if self._bs_clock_dt is None:
            return
        chans = self._bs_clock_inputs()
        self.clock_pending = {c: HiddenState(jnp.zeros(self._bs_clock_shape(c, batch_size),
                                                       jnp.float32)) for c in chans}
        self.__dict__.setdefault("_bs_clock_dims", {})

    def _bs_collect(self, active: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """Fold the jumps that arrived this step into the pending sums; release them on updates."""
        pending = self.__dict__.get("clock_pending") or {}
        dims = self.__dict__.setdefault("_bs_clock_dims", {})
        for chan, table in self._bs_clock_inputs().items():
            state = pending.get(chan)
            if state is None:
                continue
            total = state.value
            for key in [key for key, inp in table.items() if not callable(inp)]:
                x = table.pop(key)
                dim = u.get_dim(x)
                if dims.setdefault(chan, dim) != dim:
                    raise ValueError(
                        f"{type(self).__name__} '{self._path()}': jumps with dimensions "
                        f"{dims[chan]} and {dim} arrived at '{chan}'. How to fix: give every "
                        "projection into it weights of one unit.")
                m = x.to_decimal(u.Unit(dim)) if isinstance(x, u.Quantity) else jnp.asarray(x)
                total = total + jnp.broadcast_to(jnp.asarray(m, jnp.float32), total.shape)
            state.value = jnp.where(active, jnp.zeros_like(total), total)
            if chan in dims:
                dim = dims[chan]
                table[_RELEASE_KEY] = total if dim == u.DIMENSIONLESS else \
                    u.Quantity(total, unit=u.Unit(dim))
        return args, kwargs

    def _bs_after_update(self) -> None:
        for table in self._bs_clock_inputs().values():
            table.pop(_RELEASE_KEY, None)

    def _bs_clocked_call(self, args: tuple, kwargs: dict) -> Any:
        own = self._bs_clock_dt
        k = _steps_per_update(self, own)
        active = _active(k)
        net = _network_dt()
        with StateTrace() as trace:
            args, kwargs = self._bs_collect(active, args, kwargs)
            _NETWORK_DT.append(net)
            _GATES.append(active)
            try:
                with environ.context(dt=own):
                    out = self.update(*args, **kwargs)
            finally:
                _GATES.pop()
                _NETWORK_DT.pop()
                self._bs_after_update()
            written = [(s, s._value, trace._original[trace._index[id(s)]])
                       for s in trace.written_states()]
        for state, new, old in written:
            if active is True or (state._attr or "").split(".")[0] in _COLLECTING:
                # what a clock collects between updates manages itself
                state.value = new
            elif state._attr == "spike":
                state.value = _zero_unless(active, new)
            else:
                state.value = _where(active, new, old)
        return out if active is True else _zero_unless(active, out)


def clocked_call(module: Any, args: tuple, kwargs: dict) -> Any:
    """``module.update(*args, **kwargs)``, on the module's own clock when it has one."""
    if module._bs_clock_dt is None:
        return module.update(*args, **kwargs)
    return module._bs_clocked_call(args, kwargs)

