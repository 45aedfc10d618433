"""DynamicsModule: the base of everything that evolves in time."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator, Sequence

from ._clock import Clocked, clocked_call, gate
from ._module import Module
from ._state import _RESETTING

__all__ = ["DynamicsModule"]

Size = int | Sequence[int]


def _as_size(in_size: Size) -> tuple[int, ...]:
    if isinstance(in_size, bool):
        raise TypeError(f"in_size must be an int or a tuple of ints, got {in_size!r}.")
    if isinstance(in_size, int):
        in_size = (in_size,)
    try:
        size = tuple(in_size)
    except TypeError:
        raise TypeError(
            f"in_size must be an int or a tuple of ints, got {type(in_size).__name__} "
            f"{in_size!r}."
        ) from None
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in size):
        raise ValueError(
            f"in_size must hold non-negative ints, got {in_size!r}. Example: in_size=4000 "
            "or in_size=(10, 10)."
        )
    return size


class DynamicsModule(Clocked, Module):
    """Base class of models that evolve in time: neurons, synapses, networks.

    Subclasses create their states in :meth:`init_state` and advance them by
    one time step in :meth:`update`, which ``module(...)`` calls. Other
    modules (projections, input generators) deliver input by registering it
    under a key with :meth:`add_current_input` or :meth:`add_delta_input`;
    the module sums what was registered inside its update with
    :meth:`sum_current_inputs` and :meth:`sum_delta_inputs`.

    Parameters
    ----------
    in_size : int or tuple of int
        The shape of the population (without batch axis).
    name : str, optional
        Name of the module when it is the root of a model.
    dt : Quantity (time), optional
        The module's own time step, an integer multiple ``k`` of the
        network's ``dt`` (every subclass accepts ``dt=`` at construction,
        keyword only). The module is then updated only on the steps where
        ``t`` is a multiple of its ``dt``, with a step of its ``dt`` (which
        :func:`brainsim.environ.get_dt` returns inside its update and its
        ``init_state``). Jumps registered between two updates are summed
        and delivered at the next; currents and the arguments of the call
        are taken at the updates (projections and ``Synapses`` count their
        presynaptic spikes over the steps in between instead); its
        states hold their values in between, except ``spike``, which is 0
        there, and the call returns zeros on those steps: each spike is
        emitted once. A ``dt`` that is not a whole multiple of the
        network's is refused with a ``ValueError`` when it runs.

    Examples
    --------
    A leaky integrate-and-fire neuron written by a user:

    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> class MyLIF(brainsim.DynamicsModule):
    ...     def __init__(self, n, tau=10. * u.ms, v_th=1.):
    ...         super().__init__(n)
    ...         self.tau, self.v_th = tau, v_th
    ...     def init_state(self, batch_size=None):
    ...         self.v = brainsim.HiddenState(jnp.zeros(self.varshape))
    ...     def update(self, x=0.):
    ...         dt = brainsim.environ.get_dt()
    ...         v = self.v.value + dt / self.tau * (self.sum_current_inputs(x) - self.v.value)
    ...         spike = v >= self.v_th
    ...         self.v.value = jnp.where(spike, 0., v)
    ...         return spike
    >>> lif = brainsim.init_states(MyLIF(3))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     spikes = brainsim.for_loop(lambda: lif(2.), length=8)
    >>> spikes.sum(axis=0).tolist()
    [1, 1, 1]
    """

    __module__ = "brainsim"
    # True once init_state ran on this instance (set by the wrapper below)
    _bs_ready = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # every init_state a subclass defines marks the instance as having its states,
        # so that calling the module before brainsim.init_states gets a clear error
        own = cls.__dict__.get("init_state")
        if own is not None and not getattr(own, "_bs_marks_ready", False):
            @functools.wraps(own)
            def init_state(self, *args: Any, **kw: Any) -> Any:
                out = own(self, *args, **kw)
                object.__setattr__(self, "_bs_ready", True)
                return out

            init_state._bs_marks_ready = True
            cls.init_state = init_state

    def __init__(self, in_size: Size, name: str | None = None):
        super().__init__(name=name)
        self.in_size = _as_size(in_size)
        self._bs_current_inputs: dict[Any, Any] = {}
        self._bs_delta_inputs: dict[Any, Any] = {}

    @property
    def varshape(self) -> tuple[int, ...]:
        """The shape of the population's variables, without batch axis."""
        return self.in_size

    def batched_shape(self, batch_size: int | None) -> tuple[int, ...]:
        """``varshape`` with a leading batch axis when ``batch_size`` is set."""
        return self.varshape if batch_size is None else (batch_size, *self.varshape)

    def reset_state(self, batch_size: int | None = None) -> None:
        """Put the states back to their initial values.

        By default this runs :meth:`init_state` and writes the values it
        creates into the existing states, so the state objects stay the same:
        compiled functions keep their cache, and a reset works inside
        ``brainsim.jit`` and ``for_loop`` (there, with an unchanged batch size).
        """
        with resetting():
            self.init_state(batch_size)

    def update(self, *args: Any, **kwargs: Any) -> Any:
        """Advance the module by one time step ``dt``. Subclasses define it."""
        raise TypeError(
            f"{type(self).__name__} does not define update(). How to fix: a subclass of "
            "brainsim.DynamicsModule must implement update(self, ...) that advances its "
            "states by one time step."
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not self._bs_ready and _has_own_init_state(type(self)):
            raise ValueError(
                f"{type(self).__name__} '{self._path()}' was called before its states exist. "
                "How to fix: call brainsim.init_states(model) on the model (or on the "
                "network that holds it) once, before running it."
            )
        return clocked_call(self, args, kwargs)

    def _bs_clock_inputs(self) -> dict[str, dict]:
        return {"delta": self._bs_delta_inputs}

    def __getitem__(self, item: slice) -> Any:
        """``population[a:b]``: a view of neurons ``a`` to ``b - 1`` sharing this one's states.

        See :class:`brainsim.groups.Subgroup`; it works as ``pre`` or ``post``
        of a projection and in monitors.
        """
        from .groups._subgroup import Subgroup, subgroup_bounds
        if len(self.varshape) != 1:
            raise ValueError(f"Subgroups need a 1-D population; {type(self).__name__} has "
                             f"varshape {self.varshape}.")
        return Subgroup(self, *subgroup_bounds(item, self.varshape[0]))

    # -- inputs ---------------------------------------------------------------
    def add_current_input(self, key: Any, inp: Callable[..., Any] | Any) -> None:
        """Register a current input under ``key``.

        Parameters
        ----------
        key : hashable
            A unique label, e.g. the projection's name.
        inp : callable or array
            A callable is kept and evaluated at every
            :meth:`sum_current_inputs` with the arguments given there (e.g. the
            membrane potential, for conductance-based outputs). A plain value is
            used once, by the next sum, and then dropped.
        """
        _register(self, self._bs_current_inputs, key, inp, "current")

    def add_delta_input(self, key: Any, inp: Callable[..., Any] | Any) -> None:
        """Register an instantaneous jump under ``key``; see :meth:`add_current_input`."""
        _register(self, self._bs_delta_inputs, key, inp, "delta")

    def remove_input(self, key: Any) -> None:
        """Remove a current or delta input registered under ``key``."""
        found = False
        for table in (self._bs_current_inputs, self._bs_delta_inputs):
            if key in table:
                del table[key]
                found = True
        if not found:
            raise KeyError(f"No input registered under key {key!r} on '{self._path()}'.")

    def input_keys(self) -> dict[str, list]:
        """The keys of the registered inputs, by kind."""
        return {"current": list(self._bs_current_inputs), "delta": list(self._bs_delta_inputs)}

    def sum_current_inputs(self, init: Any, *args: Any, **kwargs: Any) -> Any:
        """``init`` plus every registered current input (callables get ``*args``)."""
        return _sum(self._bs_current_inputs, init, args, kwargs)

    def sum_delta_inputs(self, init: Any, *args: Any, **kwargs: Any) -> Any:
        """``init`` plus every registered delta input (callables get ``*args``)."""
        return _sum(self._bs_delta_inputs, init, args, kwargs)

    def _repr_fields(self) -> dict[str, Any]:
        return {"in_size": self.in_size}


def _has_own_init_state(cls: type) -> bool:
    """Whether ``cls`` creates states in an ``init_state`` of its own (not the base no-op)."""
    return getattr(cls.init_state, "_bs_marks_ready", False)


@contextlib.contextmanager
def resetting() -> Iterator[None]:
    """Let ``init_state`` refill the existing states instead of creating new ones."""
    before = _RESETTING[0]
    _RESETTING[0] = True
    try:
        yield
    finally:
        _RESETTING[0] = before


def _register(module: DynamicsModule, table: dict, key: Any, inp: Any, kind: str) -> None:
    if key in table:
        raise ValueError(
            f"A {kind} input is already registered under key {key!r} on '{module._path()}'. "
            "How to fix: use a distinct key per source, or call remove_input(key) first."
        )
    table[key] = gate(inp)   # on a slow clock: nothing between its updates


def _sum(table: dict, total: Any, args: tuple, kwargs: dict) -> Any:
    used_once = []
    for key, inp in table.items():
        if callable(inp):
            total = total + inp(*args, **kwargs)
        else:
            total = total + inp
            used_once.append(key)
    for key in used_once:
        del table[key]
    return total
