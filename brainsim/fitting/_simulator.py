"""The model of a fitter: one population of ``n_traces`` neurons, as a pure function of its
parameters and input."""
from __future__ import annotations

import inspect
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ
from .._module import init_states
from .._state import StateTrace
from ..equations import parse_equations, parse_expression, parse_statements
from ..equations._codegen import free_names
from ..equations._model import SPECIAL_DIMS
from ..equations._units import suggest
from ..groups import NeuronGroup
from ..transforms import for_loop

__all__ = ["Simulator"]


def _unit_text(unit: Any) -> str:
    """A unit as model-string text (``'nS'``, ``'mV / ms'``, ``'1'``)."""
    if unit.dim == u.DIMENSIONLESS:
        return "1"
    return str(unit).replace("^", "**")


def _suggest(name: str, known: list[str]) -> str:
    """``suggest``, and first a name that differs only in case (``'gl'`` -> ``'gL'``)."""
    same = [k for k in known if k.lower() == name.lower() and k != name]
    return f" Did you mean {same[0]!r}?" if same else suggest(name, known)


def _unit_of(value: Any) -> Any:
    return value.unit if isinstance(value, u.Quantity) else u.UNITLESS


class Simulator:
    """A model string or neuron class, ``n`` neurons, as ``simulate(params, inputs)``.

    ``params`` maps the fitted names to SI scalars (traced), ``inputs`` is the
    input variable's SI values ``[n, T]``. The result is ``(recorded, spikes)``,
    each ``[n, T]`` (SI; ``recorded`` is ``None`` without an output variable):
    the recorded variable at the start of each step, as a
    :class:`brainsim.runner.StateMonitor` records it, and the spikes of each
    step.
    """

    def __init__(self, where: str, model: Any, n: int, input_name: str, input_unit: Any,
                 output_name: str | None, fitted: dict[str, Any], dt: Any, method: str,
                 threshold: str | None, reset: str | None, refractory: Any,
                 param_init: dict | None, namespace: dict | None):
        self.where, self.n, self.dt = where, n, dt
        self.input_name, self.input_unit, self.output_name = input_name, input_unit, output_name
        self.fitted = dict(fitted)      # name -> unit of the bounds
        self.is_string = isinstance(model, str)
        if self.is_string:
            self.net = self._build_group(model, method, threshold, reset, refractory, namespace)
        elif isinstance(model, type):
            self.net = self._build_class(model, namespace)
        else:
            raise TypeError(f"{where}: model must be a model string (the syntax of "
                            f"brainsim.NeuronGroup) or a neuron class such as "
                            f"brainsim.neurons.AdEx, got {type(model).__name__}.")
        with environ.context(dt=dt):
            init_states(self.net)
        for name, value in (param_init or {}).items():
            if name not in self._variables():
                raise ValueError(f"{where}: param_init names {name!r}, which is not a variable "
                                 f"of the model; variables: {self._variables()}."
                                 f"{_suggest(name, self._variables())}")
            if self.is_string:
                setattr(self.net, name, value)
            else:
                state = getattr(self.net, name)
                shape = jnp.shape(u.get_mantissa(state.value))
                state.value = u.math.broadcast_to(value, shape) if isinstance(
                    value, u.Quantity) else jnp.broadcast_to(jnp.asarray(value), shape)
        self.states = self.net.states()
        self.initial = {k: s.value for k, s in self.states.items()}
        if output_name is not None and output_name not in self._variables():
            raise ValueError(f"{where}: output {output_name!r} is not a variable of the model; "
                             f"variables: {self._variables()}."
                             f"{_suggest(output_name, self._variables())}")
        self.output_unit = None if output_name is None else \
            _unit_of(getattr(self.net, output_name).value)

    def _variables(self) -> list[str]:
        """The model's own state variables (not its spikes, refractory counters or inputs)."""
        if self.is_string:
            return list(self.net._bs_vars)
        from .._state import HiddenState
        return [k for k, s in self.net.states(HiddenState).items()
                if "." not in k and k not in ("spike", "refractory")]

    # -- model strings ---------------------------------------------------------------
    def _build_group(self, model: str, method: str, threshold: str | None,
                     reset: str | None, refractory: Any, namespace: dict | None) -> NeuronGroup:
        eqs = parse_equations(model, {})
        declared = {e.name: e for e in eqs}
        params = [e.name for e in eqs.of_kind("param")]
        used: set[str] = set()
        for e in eqs:
            used |= free_names(e.expr) if e.expr is not None else set()
        if threshold is not None:
            used |= free_names(parse_expression(threshold, {}))
        for _, v in parse_statements(reset, {}) if reset is not None else []:
            used |= free_names(v)
        ns = dict(namespace or {})
        # fixed values of declared parameters are set on the group, the others are names
        fixed = {k: ns.pop(k) for k in list(ns) if k in params and k not in self.fitted}
        free = sorted(n for n in used - set(declared) - set(SPECIAL_DIMS) - set(ns)
                      if not isinstance(getattr(u, n, None), u.Unit))
        extra = []
        for name, unit in list(self.fitted.items()) + [(self.input_name, self.input_unit)]:
            if name in params:
                continue
            if name in declared:
                raise ValueError(f"{self.where}: {name!r} is a {declared[name].kind} variable "
                                 f"of the model, not a parameter; only parameters ('{name} : "
                                 f"unit') can be fitted or receive the input.")
            if name in free:
                extra.append(f"{name} : {_unit_text(unit)}")
                continue
            what = "input" if name == self.input_name else "parameter"
            known = params + free
            raise ValueError(f"{self.where}: the {what} {name!r} is not in the model; its "
                             f"parameters and undefined names are {known}.{_suggest(name, known)}"
                             f" How to fix: declare it ('{name} : unit') or use it in the model.")
        text = model + ("\n" + "\n".join(extra) if extra else "")
        g = NeuronGroup(self.n, text, threshold=threshold, reset=reset, refractory=refractory,
                        method=method, namespace=ns, current=self.input_name)
        for name, value in fixed.items():
            setattr(g, name, value)
        for name, unit in self.fitted.items():
            want = g._bs_model.units[name]
            if want.dim != unit.dim:
                raise ValueError(f"{self.where}: the bounds of {name!r} have unit {unit}, but "
                                 f"{name} has unit {want} in the model. How to fix: give the "
                                 f"bounds in {want}, e.g. [1., 10.] * u.{want}.")
        return g

    # -- neuron classes -----------------------------------------------------------------
    def _build_class(self, cls: type, namespace: dict | None) -> Any:
        sig = inspect.signature(cls.__init__)
        args = [k for k, p in sig.parameters.items()
                if k not in ("self", "in_size") and p.kind is not p.VAR_KEYWORD
                and p.kind is not p.VAR_POSITIONAL]
        kwargs = dict(namespace or {})
        for name, unit in self.fitted.items():
            if name not in args:
                raise ValueError(f"{self.where}: the parameter {name!r} is not an argument of "
                                 f"{cls.__name__}; its arguments are {args}."
                                 f"{_suggest(name, args)}")
            default = sig.parameters[name].default
            want = _unit_of(default)
            if default is not inspect.Parameter.empty and want.dim != unit.dim:
                raise ValueError(f"{self.where}: the bounds of {name!r} have unit {unit}, but "
                                 f"{cls.__name__}'s {name} has unit {want} (default "
                                 f"{default}). How to fix: give the bounds in {want}.")
        net = cls(self.n, **kwargs)
        for name in self.fitted:
            if not hasattr(net, name):
                raise ValueError(f"{self.where}: {cls.__name__} does not keep its argument "
                                 f"{name!r} as an attribute, so it cannot be fitted.")
        return net

    # -- running -----------------------------------------------------------------------
    def simulate(self, params: dict[str, Any], inputs: jax.Array) -> tuple[Any, jax.Array]:
        """Run the model on ``inputs`` ``[n, T]`` (SI) with ``params`` (SI scalars)."""
        net = self.net
        saved = {k: getattr(net, k) for k in self.fitted} if not self.is_string else {}
        try:
            with StateTrace():
                for k, s in self.states.items():
                    s.value = self.initial[k]
                for name, unit in self.fitted.items():
                    # a group's parameter is a state of one value per neuron; a class's
                    # argument is a plain attribute (put back in ``finally``)
                    x = jnp.broadcast_to(params[name], (self.n,)) if self.is_string \
                        else params[name]
                    value = x if unit.dim == u.DIMENSIONLESS else \
                        u.Quantity(x, unit=u.Unit(unit.dim))
                    if self.is_string:
                        setattr(net, name, value)
                    else:
                        object.__setattr__(net, name, value)
                iu = u.Unit(self.input_unit.dim)
                rec = self.output_name

                def step(x: jax.Array) -> Any:
                    y = None
                    if rec is not None:
                        v = getattr(net, rec).value
                        y = v.to_decimal(u.Unit(v.dim)) if isinstance(v, u.Quantity) else v
                    drive = x * iu if self.input_unit.dim != u.DIMENSIONLESS else x
                    return y, net(drive)

                with environ.context(dt=self.dt):
                    y, spikes = for_loop(step, inputs.T)
            return (None if y is None else y.T), spikes.T
        finally:
            for k, v in saved.items():
                object.__setattr__(net, k, v)
