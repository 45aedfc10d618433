"""What every projection shares: reading presynaptic spikes, delays and the communication."""
from __future__ import annotations

import itertools
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite
from .._clock import Clocked, clocked_call
from .._module import Module
from .._state import HiddenState, State
from ..event import BinaryArray
from ..event._base import SparseMatrix
from ._delay import Delay

__all__ = ["Projection", "apply_comm", "comm_unit", "comm_value", "check_comm",
           "check_syn_size", "check_input_unit"]

_COUNTER = itertools.count()


_ACCEPTED = ("a dense (n_pre, n_post) array or Quantity, a brainsim.event matrix (CSR, CSC, "
             "FixedNumPerPre, JITC...), a brainsim.State (e.g. ParamState) holding one of these, "
             "or a callable spikes -> input (a brainsim.layers layer, HeteroDelayCSR, a function)")


def _is_matrix(x: Any) -> bool:
    return isinstance(x, (SparseMatrix, jax.Array, np.ndarray, u.Quantity))


def comm_value(comm: Any) -> Any:
    """What ``comm`` is now: the current value of a State (read, so traces record it), else ``comm``."""
    return comm.value if isinstance(comm, State) else comm


def check_comm(cls: str, comm: Any) -> None:
    """Refuse a ``comm`` that a projection cannot use, naming the type and the accepted ones."""
    value = comm_value(comm)
    if isinstance(comm, State):
        if not _is_matrix(value):
            raise TypeError(
                f"{cls}: comm is a {type(comm).__name__} holding a {type(value).__name__}, but a "
                "State given as comm must hold a dense (n_pre, n_post) array or Quantity or a "
                "brainsim.event matrix. How to fix: put the weight matrix in the State, or pass "
                "a callable such as lambda s: BinaryArray(s) @ conn.with_data(w.value).")
    elif not (_is_matrix(value) or callable(value)):
        raise TypeError(f"{cls}: comm got a {type(comm).__name__} ({comm!r:.60}); accepted: "
                        f"{_ACCEPTED}.")
    if isinstance(value, (jax.Array, np.ndarray, u.Quantity)) and np.ndim(value) != 2:
        raise ValueError(
            f"{cls}: comm is a dense array of shape {tuple(np.shape(value))}, but dense weights "
            "must be a 2-D (n_pre, n_post) matrix. How to fix: reshape it, or pass a callable "
            "for other maps (e.g. lambda s: s * w for one-to-one weights).")
    if _is_matrix(value):
        check_finite(cls, comm=value)


def apply_comm(comm: Any, x: Any, binary: bool = True) -> Any:
    """``comm(x)`` for a callable, else the product of ``x`` with the matrix ``comm``.

    A :class:`brainsim.State` is read now, so a weight changed between runs,
    by an optimizer or by plasticity takes effect at the next step. Spikes
    (``binary=True``) go through :class:`brainsim.event.BinaryArray`, so
    sparse and dense matrices alike are multiplied event by event.
    """
    comm = comm_value(comm)
    if callable(comm):
        return comm(x)
    return (BinaryArray(x) @ comm) if binary else (x @ comm)


def comm_unit(comm: Any, n_pre: int | None) -> Any:
    """The unit of what ``comm`` returns (None for plain numbers), found without running it."""
    comm = comm_value(comm)
    unit = getattr(comm, "unit", None)
    if isinstance(comm, u.Quantity):
        unit = comm.unit
    if unit is None and callable(comm) and n_pre is not None:
        try:
            out = jax.eval_shape(lambda s: apply_comm(comm, s),
                                 jax.ShapeDtypeStruct((n_pre,), jnp.float32))
            unit = out.unit if isinstance(out, u.Quantity) else None
        except Exception:  # a stateful comm cannot be probed before init; assume plain
            unit = None
    if unit is not None and unit.is_unitless:
        unit = None
    return unit


def check_input_unit(cls: str, x: Any, g: Any, where: str) -> None:
    """What ``comm`` returned must have the unit of the synapse state it is added to."""
    ux, ug = u.get_unit(x), u.get_unit(g)
    if not ux.has_same_dim(ug):
        name = lambda un: "plain numbers" if un.is_unitless else f"values in {un}"
        raise ValueError(
            f"{cls}: comm returned {name(ux)} but the synapse state '{where}' holds {name(ug)}. "
            "The unit of a callable comm is found when the projection is built by calling it on "
            "zeros of shape (n_pre,), which needs n_pre. How to fix: pass pre=... (or a comm with "
            "a .shape), or give the weights the unit of the synapse state.")


def _pre_size(pre: Any, comm: Any) -> int | None:
    if pre is not None:
        return int(jnp.prod(jnp.asarray(pre.varshape)))
    shape = getattr(comm_value(comm), "shape", None)
    return int(shape[0]) if shape is not None and len(shape) == 2 else None


def _check_comm_shape(cls: str, comm: Any, pre: Any, post: Any) -> None:
    """A weight matrix must map the pre population onto the post population."""
    shape = getattr(comm_value(comm), "shape", None)
    if shape is None or len(shape) != 2:
        return  # callables without a shape: checked by their own code
    n_post = int(np.prod(post.varshape)) if hasattr(post, "varshape") else None
    if n_post is not None and int(shape[1]) != n_post:
        raise ValueError(
            f"{cls}: comm has shape {tuple(shape)} (pre x post) but post has {n_post} neurons "
            f"(varshape {tuple(post.varshape)}). How to fix: build the weights with "
            f"n_post={n_post}, or pass the population they project to."
        )
    if pre is not None and hasattr(pre, "varshape"):
        n_pre = int(np.prod(pre.varshape))
        if int(shape[0]) != n_pre:
            raise ValueError(
                f"{cls}: comm has shape {tuple(shape)} (pre x post) but pre has {n_pre} neurons. "
                "How to fix: build the weights with n_pre equal to the presynaptic population "
                "size, or use a callable comm (e.g. lambda s: BinaryArray(s[:k]) @ W) for a subset."
            )


def check_syn_size(cls: str, syn: Any, expected: tuple, side: str, label: str = "syn") -> None:
    """A synapse must have the size of the side it lives on (``side`` is 'post' or 'pre')."""
    if not hasattr(syn, "varshape"):
        raise TypeError(f"{cls}: {label} must be a brainsim.synapses model (e.g. "
                        f"synapses.Expon(n, tau)), got {type(syn).__name__}.")
    got = tuple(syn.varshape)
    if got != tuple(expected):
        n = int(np.prod(expected))
        raise ValueError(
            f"{cls}: {label} ({type(syn).__name__}) has size {got} but {side} has size "
            f"{tuple(expected)}; the synapse state lives on the {side}synaptic neurons. How to "
            f"fix: build it as {type(syn).__name__}({n if len(expected) == 1 else tuple(expected)}"
            ", ...).")


class Projection(Clocked, Module):
    """Base class: holds the presynaptic population, an optional delay and ``comm``.

    ``pre`` and ``post`` are referenced, not owned: put the neurons in your
    network yourself so they are found, initialised and updated once.

    ``comm`` maps the presynaptic spikes (shape ``(n_pre,)``) to the input of
    the postsynaptic side (shape ``(n_post,)``). It may be

    - a dense ``(n_pre, n_post)`` array or Quantity, or a ``brainsim.event``
      matrix (CSR, FixedNumPerPre, JITC...): fixed weights, copied into the
      model when it is traced;
    - a :class:`brainsim.State` (usually a :class:`brainsim.ParamState`)
      holding such a matrix: it is read at every step, so weights changed
      between runs, by an optimizer step or by :class:`brainsim.synapses.STDP`
      take effect, and ``brainsim.grad(..., grad_states=w)`` differentiates
      through the run. Passing ``w.value`` instead freezes today's weights;
    - a callable ``spikes -> input``: a layer of :mod:`brainsim.layers` (whose
      ``ParamState`` weights are learned the same way), a
      :class:`HeteroDelayCSR`, or a function such as
      ``lambda s: BinaryArray(s) @ conn.with_data(w.value)`` for sparse
      weights learned one per synapse (a state holding a whole CSR matrix also
      holds its integer index arrays, which cannot be differentiated).

    Anything else is refused with a ``TypeError`` naming ``comm``; weights
    holding NaN or inf are refused with a ``ValueError``.

    Every projection takes ``dt=`` (keyword), its own time step, a whole
    multiple ``k`` of the network's (see :class:`brainsim.DynamicsModule`):
    it then adds up the presynaptic spikes of every step and delivers the
    counts on every ``k``-th step (a delay is counted in its own steps), so
    no spike is lost or delivered twice.

    Examples
    --------
    Plastic weights: the projection reads the state at every step.

    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons, projections
    >>> post = brainsim.init_states(neurons.LIF(2, V_th=10. * u.mV))
    >>> w = brainsim.ParamState(jnp.array([[1., 2.]]) * u.mV)
    >>> p = projections.DeltaProj(w, post=post)
    >>> w.value = w.value * 3.                      # e.g. an optimizer step
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     p.update(jnp.ones(1)); _ = post()
    >>> [round(float(v), 3) for v in post.V.value.to_decimal(u.mV)]
    [3.0, 6.0]
    """

    __module__ = "brainsim.projections"

    def __init__(self, comm: Any, post: Any, pre: Any = None, delay: Any = None,
                 name: str | None = None):
        super().__init__(name=name)
        if not hasattr(post, "add_current_input"):
            raise TypeError(f"{type(self).__name__}: post must be a brainsim.DynamicsModule "
                            f"(a neuron population), got {type(post).__name__}.")
        if pre is not None and not hasattr(pre, "get_spike"):
            raise TypeError(f"{type(self).__name__}: pre must have get_spike() (a neuron or a "
                            f"spike source), got {type(pre).__name__}.")
        object.__setattr__(self, "_bs_pre", pre)
        object.__setattr__(self, "_bs_post", post)
        object.__setattr__(self, "_bs_key", f"{type(self).__name__}{next(_COUNTER)}")
        check_comm(type(self).__name__, comm)
        _check_comm_shape(type(self).__name__, comm, pre, post)
        self.comm = comm
        n_pre = _pre_size(pre, comm)
        if delay is not None:
            if n_pre is None:
                raise ValueError(f"{type(self).__name__}: a delay needs the presynaptic size; "
                                 "give pre=... or a comm with a .shape.")
            self.delay = Delay(n_pre, delay)
        else:
            self.delay = None
        object.__setattr__(self, "_bs_n_pre", n_pre)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return clocked_call(self, args, kwargs)

    # -- own clock (dt=): the presynaptic spikes of every step are summed and delivered as
    # counts at the projection's next update, so none is lost between two of them
    def _bs_init_clock(self, batch_size: int | None) -> None:
        if self.dt is None:
            return
        if self._bs_n_pre is None:
            raise ValueError(f"{type(self).__name__}: a projection with its own dt={self.dt} "
                             "needs the presynaptic size to collect spikes between its updates;"
                             " give pre=... or a comm with a .shape.")
        shape = (self._bs_n_pre,) if batch_size is None else (batch_size, self._bs_n_pre)
        self.clock_spikes = HiddenState(jnp.zeros(shape, jnp.float32))

    def _bs_collect(self, active: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        spike = args[0] if args else kwargs.pop("spike", None)
        if spike is None:
            if self._bs_pre is None:
                return args, kwargs   # update() says what is missing
            spike = self._bs_pre.get_spike()
        total = self.clock_spikes.value + jnp.asarray(spike, jnp.float32)
        self.clock_spikes.value = jnp.where(active, jnp.zeros_like(total), total)
        object.__setattr__(self, "_bs_counting", True)
        return (total, *args[1:]), kwargs

    def _bs_after_update(self) -> None:
        object.__setattr__(self, "_bs_counting", False)

    def _input(self, spike: Any) -> Any:
        """``comm`` applied to the (delayed) presynaptic spikes, or spike counts on a slow clock."""
        counting = self.__dict__.get("_bs_counting", False)
        return apply_comm(self.comm, self._spikes(spike), binary=not counting)

    def update(self, spike: Any = None) -> Any:  # pragma: no cover - abstract
        raise TypeError(f"{type(self).__name__} must define update(spike) that delivers one "
                        "step of input to its post population.")

    @property
    def pre(self) -> Any:
        return self._bs_pre

    @property
    def post(self) -> Any:
        return self._bs_post

    def _spikes(self, spike: Any) -> Any:
        if spike is None:
            if self._bs_pre is None:
                raise ValueError(f"{type(self).__name__}.update() needs the presynaptic spikes: "
                                 "pass them, or build the projection with pre=...")
            spike = self._bs_pre.get_spike()
        if self.delay is not None:
            spike = self.delay(spike)
        return spike
