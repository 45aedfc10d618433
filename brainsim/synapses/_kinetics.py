"""Synaptic kinetics: Expon, DualExpon, Alpha, AMPA, GABAa and NMDA."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .. import environ, integrators
from .._checks import check_at_least_dt, check_positive
from .._state import HiddenState
from ._base import Synapse, check_tau, decay, now

__all__ = ["Expon", "DualExpon", "Alpha", "AMPA", "GABAa", "NMDA"]


class Expon(Synapse):
    r"""Exponentially decaying synapse, integrated exactly.

    .. math:: \frac{dg}{dt} = -\frac{g}{\tau} + \sum_k x_k \delta(t - t_k)
        \quad\Rightarrow\quad g_{n+1} = g_n e^{-\Delta t/\tau} + x_{n+1}

    Parameters
    ----------
    in_size : int or tuple of int
    tau : Quantity (time)
    g_initializer : value or Initializer
        Initial ``g``; its unit is the unit of ``g`` (plain 0. by default;
        a projection sets the unit of its weights).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> s = brainsim.init_states(brainsim.synapses.Expon(1, tau=10. * u.ms))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     _ = s(1.)
    ...     g = brainsim.for_loop(lambda: s(), length=10)
    >>> round(float(g[-1, 0]), 4)    # exp(-1)
    0.3679
    """

    __module__ = "brainsim.synapses"
    _params = ("tau",)

    def __init__(self, in_size: Any, tau: Any = 8. * u.ms, g_initializer: Any = 0.,
                 name: str | None = None):
        super().__init__(in_size, name=name)
        self.tau = check_tau("Expon", "tau", tau)
        self.g_initializer = g_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        self.g = HiddenState(self._g0(batch_size))

    def update(self, x: Any = None) -> Any:
        g = self.g.value * decay(self.tau)
        self.g.value = g + self._input(x, g)
        return self.g.value


class DualExpon(Synapse):
    r"""Difference of exponentials, normalised to a peak of 1 per unit input.

    .. math::
        g = A (d - r), \quad \frac{dr}{dt} = -\frac{r}{\tau_r}, \quad
        \frac{dd}{dt} = -\frac{d}{\tau_d}, \quad r, d \mathrel{+}= x \text{ per input}

    with :math:`A = 1 / (e^{-t_p/\tau_d} - e^{-t_p/\tau_r})`,
    :math:`t_p = \frac{\tau_d \tau_r}{\tau_d - \tau_r}\ln\frac{\tau_d}{\tau_r}`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> s = brainsim.init_states(brainsim.synapses.DualExpon(1, 1. * u.ms, 10. * u.ms))
    >>> with brainsim.environ.context(dt=0.01 * u.ms):
    ...     _ = s(1.)
    ...     g = brainsim.for_loop(lambda: s(), length=2000)
    >>> round(float(g.max()), 3)
    1.0
    """

    __module__ = "brainsim.synapses"
    _params = ("tau_rise", "tau_decay")
    _state_names = ("g", "r")

    def __init__(self, in_size: Any, tau_rise: Any = 1. * u.ms, tau_decay: Any = 10. * u.ms,
                 g_initializer: Any = 0., name: str | None = None):
        super().__init__(in_size, name=name)
        self.tau_rise = check_tau("DualExpon", "tau_rise", tau_rise)
        self.tau_decay = check_tau("DualExpon", "tau_decay", tau_decay)
        tr, td = float(tau_rise.to_decimal(u.ms)), float(tau_decay.to_decimal(u.ms))
        if not td > tr:
            raise ValueError(f"DualExpon: tau_decay ({tau_decay}) must exceed tau_rise ({tau_rise}).")
        tp = td * tr / (td - tr) * jnp.log(td / tr)
        self.A = float(1. / (jnp.exp(-tp / td) - jnp.exp(-tp / tr)))
        self.g_initializer = g_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        self.g = HiddenState(self._g0(batch_size))       # the decaying component d
        self.r = HiddenState(self._g0(batch_size))       # the rising component r

    def conductance(self) -> Any:
        return self.A * (self.g.value - self.r.value)

    def update(self, x: Any = None) -> Any:
        d = self.g.value * decay(self.tau_decay)
        r = self.r.value * decay(self.tau_rise)
        inc = self._input(x, d)
        self.g.value, self.r.value = d + inc, r + inc
        return self.conductance()


class Alpha(Synapse):
    r"""Alpha-function synapse: the response to an input ``x`` at 0 is :math:`x\frac{t}{\tau}e^{-t/\tau}`.

    .. math:: \frac{dg}{dt} = \frac{h - g}{\tau}, \quad \frac{dh}{dt} = -\frac{h}{\tau},
        \quad h \mathrel{+}= x \text{ per input}

    integrated exactly: :math:`g' = e^{-\Delta t/\tau}(g + h\,\Delta t/\tau)`,
    :math:`h' = e^{-\Delta t/\tau} h`.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> s = brainsim.init_states(brainsim.synapses.Alpha(1, tau=5. * u.ms))
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     _ = s(1.)
    ...     g = brainsim.for_loop(lambda: s(), length=50)
    >>> round(float(g[-1, 0]), 4)   # t = tau: exp(-1)
    0.3679
    """

    __module__ = "brainsim.synapses"
    _params = ("tau",)
    _state_names = ("g", "h")

    def __init__(self, in_size: Any, tau: Any = 8. * u.ms, g_initializer: Any = 0.,
                 name: str | None = None):
        super().__init__(in_size, name=name)
        self.tau = check_tau("Alpha", "tau", tau)
        self.g_initializer = g_initializer

    def init_state(self, batch_size: int | None = None) -> None:
        self.g = HiddenState(self._g0(batch_size))
        self.h = HiddenState(self._g0(batch_size))

    def update(self, x: Any = None) -> Any:
        e = decay(self.tau)
        r = u.maybe_decimal(environ.get_dt() / self.tau)
        g = e * (self.g.value + self.h.value * r)
        h = e * self.h.value
        self.g.value, self.h.value = g, h + self._input(x, h)
        return self.g.value


class AMPA(Synapse):
    r"""Kinetic receptor model (Destexhe et al. 1994) of the open fraction ``g``.

    .. math:: \frac{dg}{dt} = \alpha [T] (1 - g) - \beta g

    where the transmitter concentration :math:`[T] = T` for ``T_dur`` after
    an input (any nonzero ``x``) and 0 otherwise. ``[T]`` is constant within a
    step, so the step is exact. ``g`` is dimensionless; scale it with the
    weights of the projection.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> s = brainsim.init_states(brainsim.synapses.AMPA(1))
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     _ = s(1.)
    ...     g = brainsim.for_loop(lambda: s(), length=100)
    >>> 0.1 < float(g.max()) < 1.
    True
    """

    __module__ = "brainsim.synapses"
    _params = ("alpha", "beta", "T", "T_dur")
    _defaults = dict(alpha=0.98 / (u.ms * u.mM), beta=0.18 / u.ms, T=0.5 * u.mM, T_dur=0.5 * u.ms)

    def __init__(self, in_size: Any, alpha: Any = None, beta: Any = None, T: Any = None,
                 T_dur: Any = None, name: str | None = None):
        super().__init__(in_size, name=name)
        d = self._defaults
        cls = type(self).__name__
        self.alpha = check_positive(cls, "alpha", d["alpha"] if alpha is None else alpha,
                                    allow_zero=True, example="0.98 / (u.ms * u.mM)")
        self.beta = check_tau(cls, "1/beta", 1. / (d["beta"] if beta is None else beta)) ** -1
        self.T = check_positive(cls, "T", d["T"] if T is None else T, allow_zero=True,
                                example="0.5 * u.mM")
        self.T_dur = check_tau(cls, "T_dur", d["T_dur"] if T_dur is None else T_dur)
        self.g_initializer = 0.

    def init_state(self, batch_size: int | None = None) -> None:
        self.g = HiddenState(self._g0(batch_size))
        self.release = HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.int32))

    def set_unit(self, unit: Any) -> None:
        """The open fraction is dimensionless whatever the input."""

    def update(self, x: Any = None) -> Any:
        x = self._input(x, self.g.value)
        check_at_least_dt(type(self).__name__, "T_dur", self.T_dur,
                          "the transmitter pulse cannot be resolved (shorter than half a step "
                          "the synapse never opens)")
        n = int(round(float(self.T_dur / environ.get_dt())))
        left = jnp.where(u.get_mantissa(x) != 0, n, self.release.value)
        T = u.maybe_decimal(self.alpha * self.T * environ.get_dt()) * (left > 0)
        b = u.maybe_decimal(self.beta * environ.get_dt())
        k = T + b
        g_inf = jnp.where(k > 0, T / jnp.where(k > 0, k, 1.), 0.)
        self.g.value = g_inf + (self.g.value - g_inf) * jnp.exp(-k)
        self.release.value = jnp.maximum(left - 1, 0)
        return self.g.value


class GABAa(AMPA):
    r"""GABA\ :sub:`A` receptor: :class:`AMPA` kinetics with :math:`\alpha = 0.53`/ms/mM,
    :math:`\beta = 0.18`/ms, ``T = 1 mM`` for ``T_dur = 1 ms``.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> float(brainsim.synapses.GABAa(3).T.to_decimal(u.mM))
    1.0
    """

    __module__ = "brainsim.synapses"
    _defaults = dict(alpha=0.53 / (u.ms * u.mM), beta=0.18 / u.ms, T=1. * u.mM, T_dur=1. * u.ms)


class NMDA(Synapse):
    r"""NMDA receptor with second-order kinetics of the open fraction ``g``.

    .. math::
        \frac{dg}{dt} = a\, x (1 - g) - \frac{g}{\tau_\mathrm{decay}}, \qquad
        \frac{dx}{dt} = -\frac{x}{\tau_\mathrm{rise}}, \quad x \mathrel{+}= \text{input}

    ``g`` and ``x`` are stepped jointly with ``method`` (see
    :mod:`brainsim.integrators`); the input is added to ``x`` after the step.
    The default ``'exp_euler'`` decays ``x`` exactly and steps ``g`` exactly
    for ``x`` frozen over the step (first order in the coupling); ``'rk4'``
    is fourth order. Combine with :class:`MgBlock` for the voltage dependence.

    Parameters
    ----------
    in_size : int or tuple of int
    a : Quantity (1/time)
        Opening rate per unit of ``x``.
    tau_decay, tau_rise : Quantity (time)
    method : str or callable
        Integration method name or stepper (default ``'exp_euler'``).

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> s = brainsim.init_states(brainsim.synapses.NMDA(1))
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     _ = s(1.)
    ...     g = brainsim.for_loop(lambda: s(), length=500)
    >>> 0. < float(g.max()) < 1.
    True
    """

    __module__ = "brainsim.synapses"
    _params = ("a", "tau_decay", "tau_rise", "method")
    _state_names = ("g", "x")

    def __init__(self, in_size: Any, a: Any = 0.5 / u.ms, tau_decay: Any = 100. * u.ms,
                 tau_rise: Any = 2. * u.ms, method: Any = "exp_euler", name: str | None = None):
        super().__init__(in_size, name=name)
        self.a = check_positive("NMDA", "a", a, allow_zero=True, example="0.5 / u.ms")
        self.tau_decay = check_tau("NMDA", "tau_decay", tau_decay)
        self.tau_rise = check_tau("NMDA", "tau_rise", tau_rise)
        self.method = method
        self._bs_integral = integrators.get(method)
        self.g_initializer = 0.

    def init_state(self, batch_size: int | None = None) -> None:
        self.g = HiddenState(self._g0(batch_size))
        self.x = HiddenState(self._g0(batch_size))

    def set_unit(self, unit: Any) -> None:
        """The open fraction is dimensionless whatever the input."""

    def derivative(self, y: dict, t: Any) -> dict:
        """``{'g': dg/dt, 'x': dx/dt}`` for ``y = {'g', 'x'}`` (both dimensionless)."""
        g, x = y["g"], y["x"]
        return {"g": self.a * x * (1. - g) - g / self.tau_decay, "x": -x / self.tau_rise}

    def update(self, x: Any = None) -> Any:
        y = self._bs_integral(self.derivative, {"g": self.g.value, "x": self.x.value},
                              now(), environ.get_dt())
        self.g.value = y["g"]
        self.x.value = y["x"] + u.maybe_decimal(self._input(x, y["x"]))
        return self.g.value
