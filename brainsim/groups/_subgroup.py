"""Subgroups: contiguous slices of a population that share its states."""
from __future__ import annotations

from typing import Any, Callable

import brainunit as u
import jax.numpy as jnp

from .._state import State

__all__ = ["Subgroup", "SliceView"]


def _pad(x: Any, start: int, stop: int, n: int) -> Any:
    """Put ``x`` (last axis ``stop - start``) into zeros of last axis ``n`` at ``start``."""
    m = jnp.asarray(u.get_mantissa(x))
    if m.ndim == 0:
        m = jnp.broadcast_to(m, (stop - start,))
    width = [(0, 0)] * (m.ndim - 1) + [(start, n - stop)]
    out = jnp.pad(m, width)
    return u.Quantity(out, unit=x.unit) if isinstance(x, u.Quantity) else out


class SliceView(State):
    """A read-only view of ``state.value[..., start:stop]``; nothing is copied."""

    __module__ = "brainsim.groups"
    __slots__ = ("_bs_get", "_bs_slice")

    def __init__(self, get: Callable[[], State], start: int, stop: int, name: str):
        super().__init__(jnp.zeros(()), name=name)
        self._bs_get, self._bs_slice = get, slice(start, stop)

    @property
    def value(self) -> Any:
        return self._bs_get().value[..., self._bs_slice]

    @value.setter
    def value(self, v: Any) -> None:
        raise TypeError(f"{self.path} is a view of a part of its population's state; set the "
                        "parent's state instead (e.g. group.v.value = group.v.value.at[...]).")


class _PaddedTarget:
    """Inputs to a slice go to the whole target, padded with zeros."""

    def __init__(self, target: Any, start: int, stop: int, n: int):
        self._t, self.start, self.stop, self.n = target, start, stop, n
        self.varshape = self.in_size = (stop - start,)

    def _wrap(self, inp: Any) -> Any:
        a, b, n = self.start, self.stop, self.n
        if callable(inp):
            return lambda *args, **kw: _pad(inp(*[x[..., a:b] if hasattr(x, "shape") and
                                                 jnp.ndim(x) else x for x in args], **kw), a, b, n)
        return _pad(inp, a, b, n)

    def add_delta_input(self, key: Any, inp: Any) -> None:
        self._t.add_delta_input(key, self._wrap(inp))

    def add_current_input(self, key: Any, inp: Any) -> None:
        self._t.add_current_input(key, self._wrap(inp))

    def add_before_update(self, key: Any, fn: Callable[[], None]) -> None:
        self._t.add_before_update(key, fn)


class Subgroup(_PaddedTarget):
    """``population[start:stop]``: a view usable as ``pre`` or ``post`` and in monitors.

    Its spikes and variables are slices of the parent's states (``sub.spike``,
    ``sub.v`` are read-only :class:`SliceView` s); inputs delivered to it reach
    the parent, padded with zeros. The parent alone is updated.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> P = brainsim.init_states(brainsim.neurons.LIF(10))
    >>> E = P[:8]
    >>> E.varshape, E.get_spike().shape
    ((8,), (8,))
    """

    __module__ = "brainsim.groups"

    def __init__(self, parent: Any, start: int, stop: int):
        if len(parent.varshape) != 1:
            raise ValueError(f"Subgroups need a 1-D population; {type(parent).__name__} has "
                             f"varshape {parent.varshape}.")
        super().__init__(parent, start, stop, parent.varshape[0])
        self.parent = parent
        self._views: dict[str, SliceView] = {}   # made once, outside any transform

    def get_spike(self) -> Any:
        return self.parent.get_spike()[..., self.start:self.stop]

    def target(self, name: str) -> _PaddedTarget:
        """The variable ``name`` of the slice, as the ``post`` of a projection."""
        return _PaddedTarget(self.parent.target(name), self.start, self.stop, self.n)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        parent, views = self.__dict__["parent"], self.__dict__["_views"]
        if name in views:
            return views[name]
        if isinstance(getattr(parent, name, None), State):
            views[name] = SliceView(lambda: getattr(parent, name), self.start, self.stop,
                                    f"{type(parent).__name__}[{self.start}:{self.stop}].{name}")
            return views[name]
        raise AttributeError(f"{type(parent).__name__}[{self.start}:{self.stop}] has no state "
                             f"{name!r}.")

    def __getitem__(self, item: slice) -> "Subgroup":
        a, b = subgroup_bounds(item, self.stop - self.start)
        return Subgroup(self.parent, self.start + a, self.start + b)

    def __repr__(self) -> str:
        return f"{type(self.parent).__name__}[{self.start}:{self.stop}]"


def subgroup_bounds(item: Any, n: int) -> tuple[int, int]:
    """``(start, stop)`` of a contiguous, non-empty slice of ``range(n)``."""
    if not isinstance(item, slice):
        raise TypeError(f"A subgroup is taken with a slice such as group[:3200], got {item!r}.")
    start, stop, step = item.indices(n)
    if step != 1 or stop <= start:
        raise ValueError(f"A subgroup must be a contiguous, non-empty slice with step 1; "
                         f"got {item!r} of a population of {n}.")
    return start, stop
