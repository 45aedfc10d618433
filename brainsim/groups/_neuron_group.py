"""NeuronGroup: a population defined by Brian-style model strings."""
from __future__ import annotations

import math
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ, surrogate
from .._clock import gate
from .._dynamics import DynamicsModule
from .._errors import UnitMismatchError
from .._state import HiddenState, ParamState, ShortTermState, State
from ..equations._model import CompiledModel
from ..equations._namespace import to_si
from ..equations._units import dim_str, si_unit

__all__ = ["NeuronGroup"]


def _now() -> Any:
    try:
        return environ.get_t()
    except ValueError:
        return 0. * u.ms


def _as_unit(m: Any, unit: Any) -> Any:
    """SI mantissa -> a Quantity in ``unit`` (plain array when dimensionless)."""
    if unit.dim == u.DIMENSIONLESS:
        return m
    return u.Quantity(m, unit=si_unit(unit.dim)).in_unit(unit)


class _VariableTarget:
    """Where a projection with ``target='ge'`` delivers: one variable of a group."""

    def __init__(self, group: "NeuronGroup", name: str):
        self.group, self.name = group, name
        self.varshape = group.varshape
        self.in_size = group.in_size

    def add_delta_input(self, key: Any, inp: Any) -> None:
        table = self.group._bs_var_inputs[self.name]
        if key in table:
            raise ValueError(f"A delta input is already registered under key {key!r} on "
                             f"'{self.group._path()}.{self.name}'.")
        table[key] = gate(inp)

    def add_current_input(self, key: Any, inp: Any) -> None:
        raise TypeError(f"'{self.group._path()}.{self.name}' receives jumps (delta inputs) "
                        "only: use projections.DeltaProj(..., target=...), which is Brian's "
                        "on_pre='x += w'.")


class NeuronGroup(DynamicsModule):
    r"""A population whose dynamics are written as Brian model strings.

    .. code-block:: text

        dv/dt = (El - v + R * I) / tau : volt (unless refractory)
        I : amp                       # a parameter, one value per neuron
        R = 100 * Mohm : ohm          # a subexpression

    The strings are parsed with sympy, their units checked, and compiled to
    JAX functions on SI mantissas: the group is jit-, vmap- and
    grad-compatible like every brainsim neuron.

    Each step: the differential equations are integrated jointly with
    ``method``; jumps delivered to a variable (``DeltaProj(..., target='ge')``)
    are added; the threshold is evaluated with a surrogate-gradient
    Heaviside (``spk_fun``) on ``(lhs - rhs) / |rhs - reset value|`` (on
    ``lhs - rhs`` in SI units when the reset does not set the variable;
    parts of a threshold that are not comparisons count as 0/1); the reset
    statements run, in order, where a spike occurred.

    Parameters
    ----------
    n : int
        Number of neurons.
    model : str
        Differential equations ``dx/dt = expr : unit`` (flag
        ``(unless refractory)`` holds ``x`` during the refractory period),
        subexpressions ``y = expr : unit`` and parameters ``p : unit``.
    threshold : str, optional
        A condition, e.g. ``'v > vt'``.
    reset : str, optional
        Statements separated by ``;``, e.g. ``'v = vr; w += b'``.
    refractory : Quantity (time) or str, optional
        A period after each spike (rounded to whole steps) during which the
        group cannot spike and flagged variables are held; or a condition
        that is refractory while true.
    method : str
        ``'exact'`` (default; linear systems with constant coefficients),
        ``'exponential_euler'``, ``'euler'``, ``'rk2'``, ``'heun'``, ``'rk4'``.
    namespace : dict, optional
        Values (Quantities, numbers, arrays of shape ``(n,)``) and functions
        (e.g. a :class:`brainsim.TimedArray`) for names the model uses but
        does not define. Unit names (``mV``, ``nS``) are known already.
    dt : Quantity (time), optional
        The group's own time step, an integer multiple ``k`` of the network's
        ``dt``, as for every :class:`brainsim.DynamicsModule`: the group is
        updated on every ``k``-th step (those where ``t`` is a multiple of
        its ``dt``) with a step of ``dt``. Jumps that arrive in between are
        summed and added at its next update; its spikes are emitted once, on
        the step it fires (``spike`` is 0 on the other steps).
    current : str, optional
        A parameter of the model that receives the current inputs: each step
        it counts as its set value plus ``x`` of ``group(x)`` plus every
        input registered with :meth:`add_current_input` (callables, such as
        gap junctions or conductance outputs, get the first differential
        variable, normally the membrane potential).
    spk_fun : str or Surrogate
        Surrogate spike function (see :mod:`brainsim.surrogate`).
    detach_reset : bool
        Stop the gradient through the spike in the reset.

    States
    ------
    every differential variable : HiddenState ``[*batch, n]``, declared unit
    every parameter : ParamState ``[n]``, declared unit (0 until set)
    spike : ShortTermState, float 0/1
    refractory : HiddenState int32, steps left (when ``refractory`` is a time)

    Variables are set with ``group.v = -70. * u.mV`` (before or after
    ``init_states``; a reset restores the value set last).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> g = brainsim.NeuronGroup(2, 'dv/dt = (1.5*mV - v) / tau : volt\ntau : second',
    ...                          threshold='v > 1*mV', reset='v = 0*mV')
    >>> g.tau = [10., 20.] * u.ms
    >>> g = brainsim.init_states(g)
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     s = brainsim.for_loop(lambda: g(), length=1000)
    >>> s.sum(axis=0).tolist()
    [9.0, 4.0]
    """

    __module__ = "brainsim"

    def __init__(self, n: int, model: str, threshold: str | None = None,
                 reset: str | None = None, refractory: Any = None, method: str = "exact",
                 namespace: dict | None = None, *, current: str | None = None,
                 spk_fun: Any = "sigmoid",
                 detach_reset: bool = True, name: str | None = None):
        super().__init__(n, name=name)
        ref_cond = refractory if isinstance(refractory, str) else None
        if refractory is not None and ref_cond is None:
            if not (isinstance(refractory, u.Quantity) and
                    refractory.dim == u.second.dim) or jnp.any(refractory.mantissa < 0):
                raise ValueError(f"NeuronGroup: refractory must be a non-negative time (e.g. "
                                 f"5. * u.ms) or a condition string, got {refractory!r}.")
        if reset is not None and threshold is None:
            raise ValueError("NeuronGroup: a reset needs a threshold; give threshold='v > vt'.")
        cm = CompiledModel(model, threshold, reset, ref_cond, method, namespace)
        object.__setattr__(self, "_bs_model", cm)
        object.__setattr__(self, "_bs_init", {})
        object.__setattr__(self, "_bs_var_inputs", {})
        object.__setattr__(self, "_bs_before", {})
        self.spk_fun = surrogate.get(spk_fun) if isinstance(spk_fun, str) else spk_fun
        self.detach_reset = detach_reset
        self.method = method
        self.refractory_period = None if ref_cond is not None else refractory
        eqs = cm.equations
        self._bs_vars = [e.name for e in eqs.of_kind("diff")]
        self._bs_params = [e.name for e in eqs.of_kind("param")]
        if current is not None and current not in self._bs_params:
            from ..equations._units import suggest
            raise ValueError(f"NeuronGroup: current={current!r} must name a parameter of the "
                             f"model (e.g. 'I : amp'); parameters: {self._bs_params}."
                             f"{suggest(current, self._bs_params)}")
        self.current = current
        for p in self._bs_params:
            setattr(self, p, ParamState(self._zeros(p, None)))
        for v in self._bs_vars:
            self._bs_var_inputs[v] = {}

    # -- variables ---------------------------------------------------------
    def _zeros(self, name: str, batch_size: int | None) -> Any:
        return _as_unit(jnp.zeros(self.batched_shape(batch_size), jnp.float32),
                        self._bs_model.units[name])

    def _coerce(self, name: str, value: Any, shape: tuple) -> Any:
        unit = self._bs_model.units[name]
        if u.get_dim(value) != unit.dim:
            raise UnitMismatchError(
                f"NeuronGroup: {name} has unit {unit} ({dim_str(unit.dim)}), got {value!r} "
                f"({dim_str(u.get_dim(value))}). How to fix: give it in {unit}, e.g. "
                f"{name} = 1. * u.{unit}." if unit.dim != u.DIMENSIONLESS else
                f"NeuronGroup: {name} is dimensionless, got {value!r}.")
        m = jnp.asarray(to_si(value, unit.dim), jnp.float32)
        try:
            m = jnp.broadcast_to(m, shape)
        except ValueError:
            raise ValueError(f"NeuronGroup: {name} must broadcast to shape {shape}, got shape "
                             f"{m.shape}.") from None
        return _as_unit(m, unit)

    def __setattr__(self, name: str, value: Any) -> None:
        cm = self.__dict__.get("_bs_model")
        if cm is not None and name in cm.units and not isinstance(value, State):
            state = self.__dict__.get(name)
            shape = self.varshape if name in self._bs_params or state is None else \
                jnp.shape(u.get_mantissa(state.value))
            value = self._coerce(name, value, shape)
            if name in self._bs_params:
                state.value = value
            else:
                self._bs_init[name] = value
                if state is not None:
                    state.value = value
            return
        super().__setattr__(name, value)

    def init_state(self, batch_size: int | None = None) -> None:
        for v in self._bs_vars:
            init = self._bs_init.get(v)
            val = self._zeros(v, batch_size) if init is None else \
                self._coerce(v, init, self.batched_shape(batch_size))
            setattr(self, v, HiddenState(val))
        self.spike = ShortTermState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))
        if self.refractory_period is not None:
            self.refractory = HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.int32))

    def target(self, name: str) -> _VariableTarget:
        """The variable ``name`` as the ``post`` of a projection (its jumps go there)."""
        if name not in self._bs_vars:
            from ..equations._units import suggest
            raise ValueError(f"NeuronGroup: target {name!r} is not a differential variable of "
                             f"the model; variables: {self._bs_vars}."
                             f"{suggest(name, self._bs_vars)}")
        return _VariableTarget(self, name)

    def add_before_update(self, key: Any, fn: Callable[[], None]) -> None:
        """Run ``fn()`` at the start of every update (synapses living on this group)."""
        self._bs_before.setdefault(key, fn)

    def get_spike(self) -> jax.Array:
        """The spikes of the last step (float 0/1)."""
        return self.spike.value

    # -- one step ------------------------------------------------------------
    def _values(self) -> dict:
        cm = self._bs_model
        vals = dict(cm.resolved.consts)
        for name in self._bs_vars + self._bs_params:
            vals[name] = to_si(getattr(self, name).value, cm.units[name].dim)
        vals["t"] = to_si(_now(), u.second.dim)
        vals["dt"] = to_si(environ.get_dt(), u.second.dim)
        n = math.prod(self.varshape)
        vals["i"] = jnp.arange(n).reshape(self.varshape)
        vals["N"] = n
        return vals

    def _bs_clock_inputs(self) -> dict[str, dict]:
        # on a slow clock, the jumps to each variable are collected between updates
        return dict(self._bs_var_inputs)

    def _add_currents(self, vals: dict, x: Any) -> None:
        name = self.current
        if name is None:
            if x is not None or self._bs_current_inputs:
                raise TypeError(
                    "NeuronGroup: this group received a current input but has no parameter to "
                    "hold it. How to fix: declare one in the model (e.g. 'I : amp') and pass "
                    "current='I'; or deliver jumps with DeltaProj(..., target='ge').")
            return
        unit = self._bs_model.units[name]
        zero = jnp.zeros(self.spike.value.shape, jnp.float32)
        zero = zero if unit.dim == u.DIMENSIONLESS else u.Quantity(zero, unit=si_unit(unit.dim))
        try:
            total = self.sum_current_inputs(zero + (0. if x is None else x),
                                            getattr(self, self._bs_vars[0]).value)
        except u.UnitMismatchError:   # brainunit's error is no ValueError: name the variable
            total = None
        if total is None or u.get_dim(total) != unit.dim:
            raise UnitMismatchError(
                f"NeuronGroup: a current input to {name!r} does not have its dimension "
                f"{dim_str(unit.dim)} (unit {unit}). How to fix: give x and the projections' "
                f"outputs in {unit}.")
        vals[name] = vals[name] + to_si(total, unit.dim)

    def update(self, x: Any = None) -> jax.Array:
        """Advance one step of ``dt`` (``x``: a current for ``current``); return the spikes."""
        for fn in self._bs_before.values():
            fn()
        cm = self._bs_model
        vals = self._values()
        self._add_currents(vals, x)
        if self.refractory_period is not None:
            left = self.refractory.value
            ref = left > 0
        elif cm.refractory is not None:
            ref = cm.refractory(vals)[0].astype(bool)
        else:
            ref = None
        vals["not_refractory"] = 1. if ref is None else 1. - ref.astype(jnp.float32)
        new = cm.step(vals, vals["dt"])
        for name, x in new.items():
            x = jnp.asarray(x, jnp.float32)
            if ref is not None and name in cm.unless_refractory:
                x = jnp.where(ref, vals[name], x)
            table = self._bs_var_inputs[name]
            jump = 0.
            for key in list(table):
                inp = table[key]
                d = inp() if callable(inp) else inp
                if not callable(inp):
                    del table[key]
                jump = jump + self._delta_si(name, d)
            vals[name] = x + jump
        spike = None
        if cm.threshold_parts:
            spike = cm.threshold(vals, self.spk_fun)
            if ref is not None:
                spike = spike * (1. - ref.astype(spike.dtype))
            s = jax.lax.stop_gradient(spike) if self.detach_reset else spike
            for name, fn in cm.reset:
                vals[name] = vals[name] + (fn(vals)[0] - vals[name]) * s
        else:
            spike = jnp.zeros(jnp.shape(self.spike.value), jnp.float32)
        for name in self._bs_vars:
            state = getattr(self, name)
            shape = jnp.shape(u.get_mantissa(state.value))
            state.value = _as_unit(jnp.broadcast_to(jnp.asarray(vals[name], jnp.float32), shape),
                                   cm.units[name])
        if self.refractory_period is not None:
            with jax.ensure_compile_time_eval():
                n_ref = int(round(float(self.refractory_period / environ.get_dt())))
            self.refractory.value = jnp.where(spike > 0, n_ref, jnp.maximum(left - 1, 0))
        self.spike.value = spike
        return spike

    def _delta_si(self, name: str, d: Any) -> Any:
        dim = self._bs_model.units[name].dim
        if u.get_dim(d) != dim:
            raise UnitMismatchError(
                f"NeuronGroup: a jump delivered to {name!r} has dimension "
                f"{dim_str(u.get_dim(d))}, but {name!r} has {dim_str(dim)}. How to fix: give "
                f"the projection's weights in the unit of {name} ({self._bs_model.units[name]}).")
        return to_si(d, dim)

    def _repr_fields(self) -> dict[str, Any]:
        return {"n": self.in_size[0], "variables": self._bs_vars}
