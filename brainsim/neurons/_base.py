"""The neuron base class: spike function, reset, integrator and input summation."""
from __future__ import annotations

from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ, integrators, surrogate
from .._dynamics import DynamicsModule
from .._checks import (check_finite, check_positive, check_shape,  # noqa: F401 (for the models)
                       check_time)
from .._errors import UnitMismatchError
from .._state import ShortTermState

__all__ = ["Neuron", "mantissa", "wrap_like"]


def mantissa(x: Any, unit: Any = None) -> Any:
    """The number part of ``x``, in ``unit`` when given (plain arrays pass through)."""
    if isinstance(x, u.Quantity):
        return x.to_decimal(unit) if unit is not None else x.mantissa
    return x


def wrap_like(x: Any, ref: Any) -> Any:
    """Give ``x`` the kind of ``ref``: a Quantity in ``ref``'s unit, or a plain array."""
    if isinstance(ref, u.Quantity):
        if isinstance(x, u.Quantity):
            return x.in_unit(ref.unit)
        return u.Quantity(x, unit=ref.unit)
    return u.maybe_decimal(x) if isinstance(x, u.Quantity) else x


def _now() -> Any:
    try:
        return environ.get_t()
    except ValueError:
        return 0. * u.ms


class Neuron(DynamicsModule):
    r"""Base class of spiking neurons.

    A neuron integrates its membrane equation with an integrator chosen by
    ``method`` (see :mod:`brainsim.integrators`), turns the dimensionless
    distance to threshold into a spike with a surrogate-gradient Heaviside
    (see :mod:`brainsim.surrogate`), and resets.

    The last spikes are kept in the state ``spike`` (a float array of 0/1 of
    the population's shape), which projections read and
    ``brainsim.event.BinaryArray(neuron.spike.value) @ matrix`` consumes.

    A model declares the states its ODE evolves in ``_ode_vars`` (``V``
    first) and their derivatives together in :meth:`derivative`, which takes
    and returns a dict keyed by those names. :meth:`_step_ode` advances all of
    them jointly, so every method keeps its order on coupled models (``V``
    and an adaptation current, gating variables); spikes and resets are
    applied after the joint step.

    Currents registered with :meth:`add_current_input` are summed each step;
    callables get the membrane potential ``V`` (conductance outputs). Within
    one step a callable input is linearised around the current ``V``, which
    is exact for conductance inputs :math:`g(E - V)` and lets exponential
    Euler integrate them exactly.

    Parameters
    ----------
    in_size : int or tuple of int
        Population shape.
    spk_fun : str or Surrogate
        The surrogate spike function (``'sigmoid'``, ``'arctan'``, ... or an
        instance from :mod:`brainsim.surrogate`).
    spk_reset : {'hard', 'soft'}
        ``'hard'`` sets ``V`` to ``V_reset``; ``'soft'`` subtracts
        ``V_th - V_reset``.
    detach_reset : bool
        Stop the gradient through the spike in the reset (usual for training).
    method : str or callable
        Integration method name or stepper.
    name : str, optional
    """

    __module__ = "brainsim.neurons"
    #: The states the ODE integrates jointly, membrane potential first.
    _ode_vars: tuple[str, ...] = ("V",)

    def __init__(self, in_size: Any, *, spk_fun: Any = "sigmoid", spk_reset: str = "hard",
                 detach_reset: bool = True, method: str | Callable = "exp_euler",
                 name: str | None = None):
        super().__init__(in_size, name=name)
        if spk_reset not in ("hard", "soft"):
            raise ValueError(f"spk_reset must be 'hard' or 'soft', got {spk_reset!r}.")
        self.spk_fun = surrogate.get(spk_fun) if isinstance(spk_fun, str) else spk_fun
        if not callable(self.spk_fun):
            raise TypeError(f"spk_fun must be a surrogate name or a callable, got {spk_fun!r}.")
        self.spk_reset = spk_reset
        self.detach_reset = detach_reset
        self.method = method
        self._bs_integral = integrators.get(method)
        self._bs_before: dict[Any, Callable[[], None]] = {}

    # -- hooks: synapses that live on this neuron are advanced before it -----
    def add_before_update(self, key: Any, fn: Callable[[], None]) -> None:
        """Run ``fn()`` at the start of every :meth:`update` (once per key).

        Post-synaptic synapses use this so that one synapse shared by several
        projections is advanced exactly once per step, before the neuron
        reads its conductance.
        """
        self._bs_before.setdefault(key, fn)

    def _run_before(self) -> None:
        for fn in self._bs_before.values():
            fn()

    # -- helpers for subclasses ------------------------------------------------
    def _zero_current(self, V: Any, R: Any) -> Any:
        unit = u.get_unit(V) / u.get_unit(R)
        z = jnp.zeros(jnp.shape(mantissa(V)), jnp.result_type(mantissa(V)))
        return z if unit.is_unitless and not isinstance(V, u.Quantity) else u.Quantity(z, unit=unit)

    def input_current(self, x: Any, V: Any, R: Any = 1.) -> Callable[[Any], Any]:
        """The summed input current as an affine function of ``V`` for this step.

        ``x`` is the current passed to ``update``; registered inputs are added
        (one-shot values once, callables evaluated at ``V``). Returns
        ``I(V')`` that equals the sum at ``V`` and has its slope in ``V``.
        """
        vunit = V.unit if isinstance(V, u.Quantity) else None
        Vm = mantissa(V)
        zero = self._zero_current(V, R)
        iunit: list = [None]
        try:
            first = zero + x
        except u.UnitMismatchError:  # brainunit's error is no ValueError: name the argument
            raise UnitMismatchError(
                f"{type(self).__name__}: the input current x has unit {u.get_unit(x)}, but R * x "
                f"must be a voltage like V ({u.get_unit(V)}); with R = {R} give x in "
                f"{u.get_unit(zero)}. How to fix: convert x, or choose R so that R * x is a "
                "voltage (R=1. takes the input in the unit of V)."
            ) from None

        def total(vm):
            I = self.sum_current_inputs(first, wrap_like(vm, V))
            iunit[0] = I.unit if isinstance(I, u.Quantity) else None
            return jnp.broadcast_to(jnp.asarray(mantissa(I), Vm.dtype), Vm.shape)

        I0, slope = jax.jvp(total, (Vm,), (jnp.ones_like(Vm),))
        unit = iunit[0]

        def current(Vn):
            m = I0 + slope * (mantissa(Vn, vunit) - Vm)
            return m if unit is None else u.Quantity(m, unit=unit)

        return current

    def integrate(self, f: Callable, y: Any, *args: Any) -> Any:
        """One step of ``dy/dt = f(y, t, *args)`` with this neuron's method."""
        return self._bs_integral(f, y, _now(), environ.get_dt(), *args)

    def derivative(self, y: dict, t: Any, I: Callable[[Any], Any]) -> dict:
        """The derivatives of every variable in ``_ode_vars``, together.

        Parameters
        ----------
        y : dict
            The variables by name (``y['V']`` the membrane potential).
        t : Quantity (time)
        I : callable
            ``I(V)``, the summed input current at membrane potential ``V``.

        Returns
        -------
        dict
            ``dy/dt`` with the keys of ``y``, each in unit of the variable / time.
        """
        raise TypeError(f"{type(self).__name__} must define derivative(y, t, I) returning "
                        f"the derivatives of {self._ode_vars} as a dict.")

    def _step_ode(self, x: Any, R: Any = 1., hold: Any = None) -> dict:
        """Advance every variable of ``_ode_vars`` one step jointly.

        ``x`` is the external current, ``R`` the input resistance. Where the
        boolean ``hold`` is true, ``V`` is refractory: the caller clamps it
        after the step, and with coupled variables ``dV/dt`` is also zeroed
        inside the step, so that they evolve with ``V`` held. Delta inputs are
        added to ``V`` after the step.
        """
        y = {k: getattr(self, k).value for k in self._ode_vars}
        I = self.input_current(x, y["V"], R)
        f = self.derivative
        if hold is not None and len(self._ode_vars) > 1:
            def f(y, t, I):
                dy = self.derivative(y, t, I)
                dV = dy["V"]
                if isinstance(dV, u.Quantity):
                    dy["V"] = u.math.where(hold, u.math.zeros_like(dV), dV)
                else:
                    dy["V"] = jnp.where(hold, jnp.zeros_like(dV), dV)
                return dy
        y = self.integrate(f, y, I)
        y["V"] = self.sum_delta_inputs(y["V"])
        return y

    def spike_of(self, V: Any, V_th: Any, scale: Any) -> jax.Array:
        """Surrogate spike of ``(V - V_th) / scale`` (float 0/1)."""
        return self.spk_fun((V - V_th) / scale)

    def reset(self, V: Any, spike: jax.Array, V_th: Any, V_reset: Any) -> Any:
        """Hard or soft reset of ``V`` where ``spike`` is 1."""
        s = jax.lax.stop_gradient(spike) if self.detach_reset else spike
        if self.spk_reset == "soft":
            return V - (V_th - V_reset) * s
        # not V + (V_reset - V) * s: for a large V (an exponential upswing) that
        # cancels to 0 instead of V_reset; this form gives V_reset exactly at s = 1
        return V * (1. - s) + V_reset * s

    def _new_spike_state(self, batch_size: int | None) -> None:
        self.spike = ShortTermState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def get_spike(self) -> jax.Array:
        """The spikes of the last step (float 0/1, population shape)."""
        return self.spike.value


def check_same_dim(cls: str, ref_name: str, ref: Any, **others: Any) -> None:
    """Raise unless ``ref`` and every value in ``others`` are finite and of one dimension."""
    check_finite(cls, **{ref_name: ref}, **others)
    ru = u.get_unit(ref)
    for name, v in others.items():
        if not u.get_unit(v).has_same_dim(ru):
            raise ValueError(
                f"{cls}: {name}={v!r} must have the same unit kind as {ref_name}={ref!r} "
                f"(got {u.get_unit(v)} vs {ru}). How to fix: give all voltages in one kind of "
                "unit, e.g. -50. * u.mV, or all as plain numbers.")


def refractory_steps(cls: str, tau_ref: Any) -> int:
    """``tau_ref`` in whole time steps (rounded to the nearest step)."""
    check_time(cls, "tau_ref", tau_ref, allow_zero=True)
    with jax.ensure_compile_time_eval():
        return int(round(float(tau_ref / environ.get_dt())))
