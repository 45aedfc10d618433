"""Modules: containers that discover their child modules and states.

A :class:`Module` finds its children by walking its attributes, including
lists, tuples and dicts of them. Each child learns the attribute it was first
assigned to, so a state can name itself by its path (``net.E.syn.g``) in
error messages.
"""

from __future__ import annotations

import contextlib
import weakref
from typing import Any, Callable, Iterator

from . import _state
from ._errors import TraceContextError
from ._state import State

__all__ = ["Module", "init_states", "reset_states"]

StateFilter = type | tuple | Callable[[str, State], bool] | None

# Attributes named like this are bookkeeping, never searched for children.
_PRIVATE = "_bs_"


class Module:
    """Base class of everything that holds states or other modules.

    Parameters
    ----------
    name : str, optional
        The name used for this module when it is the root of a model, as the
        first part of the paths in error messages. Defaults to the class name.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> class Affine(brainsim.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = brainsim.ParamState(jnp.ones(3))
    ...         self.b = brainsim.ParamState(jnp.zeros(3))
    >>> class Net(brainsim.Module):
    ...     def __init__(self):
    ...         super().__init__(name='net')
    ...         self.layers = [Affine(), Affine()]
    >>> list(Net().states())
    ['layers.0.w', 'layers.0.b', 'layers.1.w', 'layers.1.b']
    """

    __module__ = "brainsim"

    def __init__(self, name: str | None = None):
        object.__setattr__(self, "_bs_name", name)
        object.__setattr__(self, "_bs_parent", None)
        object.__setattr__(self, "_bs_attr", None)

    # -- naming -----------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        if "_bs_parent" not in self.__dict__:
            raise TypeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before "
                f"setting attributes (it set '{name}' first)."
            )
        if not name.startswith(_PRIVATE):
            old = self.__dict__.get(name)
            if _state._RESETTING[0] and any(isinstance(c, State) for _, c in _walk(name, value)):
                where = f"{self._path()}.{name}"
                if _copy_into(old, value, where):
                    return
            _adopt(self, name, value)
            if old is not None and old is not value:
                _retire(old, value)
        object.__setattr__(self, name, value)

    @property
    def name(self) -> str:
        """The module's own name (its attribute name, or the root name)."""
        if self._bs_attr is not None:
            return self._bs_attr
        return self._bs_name or type(self).__name__

    def _path(self) -> str:
        parent = self._bs_parent() if self._bs_parent is not None else None
        if parent is None:
            return self._bs_name or type(self).__name__
        return f"{parent._path()}.{self._bs_attr}"

    # -- discovery ----------------------------------------------------------
    def _children(self) -> Iterator[tuple[str, Any]]:
        for attr, value in vars(self).items():
            if attr.startswith(_PRIVATE):
                continue
            yield from _walk(attr, value)

    def states(self, filter: StateFilter = None) -> dict[str, State]:
        """All states of this module and its children, by path.

        Parameters
        ----------
        filter : State subclass, tuple of them, or callable, optional
            Keep only states of that class, or for which
            ``filter(path, state)`` is true.

        Returns
        -------
        dict
            Ordered mapping from path (relative to this module, e.g.
            ``'E.V'``) to state. A state reachable by two paths is listed
            once, under the first.
        """
        keep = _make_filter(filter)
        found: dict[str, State] = {}
        seen_states: set[int] = set()
        seen_modules: set[int] = {id(self)}

        def visit(module: Module, prefix: str) -> None:
            for path, child in module._children():
                full = prefix + path
                if isinstance(child, State):
                    if id(child) not in seen_states:
                        seen_states.add(id(child))
                        if keep(full, child):
                            found[full] = child
                elif id(child) not in seen_modules:
                    seen_modules.add(id(child))
                    visit(child, full + ".")

        visit(self, "")
        return found

    def named_modules(self) -> dict[str, "Module"]:
        """All descendant modules by path, parents before their children."""
        found: dict[str, Module] = {}
        seen: set[int] = {id(self)}

        def visit(module: Module, prefix: str) -> None:
            for path, child in module._children():
                if isinstance(child, Module) and id(child) not in seen:
                    seen.add(id(child))
                    found[prefix + path] = child
                    visit(child, prefix + path + ".")

        visit(self, "")
        return found

    def modules(self) -> list["Module"]:
        """The descendant modules (not this one), parents before children."""
        return list(self.named_modules().values())

    # -- state lifecycle (no-ops unless a subclass has states) ---------------
    def init_state(self, batch_size: int | None = None) -> None:
        """Create this module's own states. Children are handled by
        :func:`brainsim.init_states`."""

    def reset_state(self, batch_size: int | None = None) -> None:
        """Put this module's own states back to their initial values."""

    # -- display ------------------------------------------------------------
    def _repr_fields(self) -> dict[str, Any]:
        """Constructor-like fields shown in the repr; subclasses may add more."""
        return {}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        for key, val in self._repr_fields().items():
            lines.append(f"  {key}={val!r},")
        for attr, value in vars(self).items():
            if attr.startswith(_PRIVATE):
                continue
            for path, child in _walk(attr, value):
                if isinstance(child, State):
                    lines.append(f"  {path}={child!r},")
                elif child._bs_parent is not None and child._bs_parent() is self:
                    body = repr(child).replace("\n", "\n  ")
                    lines.append(f"  {path}={body},")
                else:
                    lines.append(f"  {path}=<{type(child).__name__} '{child._path()}'>,")
        if len(lines) == 1:
            return f"{type(self).__name__}()"
        lines.append(")")
        return "\n".join(lines)


def _walk(path: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, (State, Module)):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _walk(f"{path}.{i}", v)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(f"{path}.{k}", v)


def _copy_into(old: Any, new: Any, where: str) -> bool:
    """During a reset, write the values of the fresh states ``new`` into the
    existing states ``old`` (same nesting). False if the structures differ."""
    pairs: list[tuple[State, State]] = []

    def match(o: Any, n: Any) -> bool:
        if isinstance(n, State):
            if not (isinstance(o, State) and type(o) is type(n)):
                return False
            pairs.append((o, n))
            return True
        if isinstance(n, (list, tuple)):
            return (isinstance(o, type(n)) and len(o) == len(n)
                    and all(match(a, b) for a, b in zip(o, n)))
        if isinstance(n, dict):
            return (isinstance(o, dict) and o.keys() == n.keys()
                    and all(match(o[k], n[k]) for k in n))
        return False

    if not match(old, new):
        if _state._TRACE_STACK:
            raise TraceContextError(
                f"reset_state inside a traced function changed the structure of '{where}'. "
                "Inside jit/for_loop a reset may only give states new values of the same "
                "shape. How to fix: change the batch size with init_states/reset_states "
                "outside the transformed function."
            )
        return False
    for o, n in pairs:
        if not _state._TRACE_STACK:
            o.replace(n._value)  # may change the batch size on purpose
            continue
        try:
            o.value = n._value  # checked write, recorded by the trace
        except ValueError as err:
            raise TraceContextError(
                f"reset_state inside a traced function changed the shape of '{o.path}' ({err}) "
                "Inside jit/for_loop a reset keeps the batch size. How to fix: call "
                "reset_states(model, batch_size=...) outside the transformed function."
            ) from None
    return True


def _states_in(value: Any) -> dict[int, State]:
    """Every state in an attribute value, those of its modules included."""
    found: dict[int, State] = {}
    for _, child in _walk("", value):
        if isinstance(child, State):
            found[id(child)] = child
        else:
            found.update((id(s), s) for s in child.states().values())
    return found


def _retire(old: Any, new: Any) -> None:
    """Mark the states an attribute held and no longer holds as replaced."""
    gone = _states_in(old)
    if not gone:
        return
    for key in _states_in(new):
        gone.pop(key, None)
    for s in gone.values():
        s._replaced += 1


def _adopt(owner: Module, attr: str, value: Any) -> None:
    for path, child in _walk(attr, value):
        if isinstance(child, State):
            child._set_owner(owner, path)
        elif child._bs_parent is None and child is not owner:
            object.__setattr__(child, "_bs_parent", weakref.ref(owner))
            object.__setattr__(child, "_bs_attr", path)


def _make_filter(filter: StateFilter) -> Callable[[str, State], bool]:
    if filter is None:
        return lambda path, state: True
    if isinstance(filter, type) or (
        isinstance(filter, tuple) and all(isinstance(f, type) for f in filter)
    ):
        return lambda path, state: isinstance(state, filter)
    if callable(filter):
        return filter
    raise TypeError(
        f"states(filter=...) takes a State subclass, a tuple of them, or a callable "
        f"(path, state) -> bool; got {filter!r}."
    )


def _lifecycle(model: Module, method: str, batch_size: int | None) -> None:
    if not isinstance(model, Module):
        raise TypeError(f"Expected a brainsim.Module, got {type(model).__name__}.")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(
            f"batch_size must be None or a positive int, got {batch_size!r}."
        )
    from . import environ
    from ._clock import clock_of
    for module in [model, *model.modules()]:
        # a module on its own clock (or inside one) sizes its buffers with that clock's dt
        dt = clock_of(module)
        with environ.context(dt=dt) if dt is not None else contextlib.nullcontext():
            getattr(module, method)(batch_size)
            init_clock = getattr(module, "_bs_init_clock", None)
            if init_clock is not None:
                before = _state._RESETTING[0]
                _state._RESETTING[0] = before or method == "reset_state"
                try:
                    init_clock(batch_size)
                finally:
                    _state._RESETTING[0] = before
        module.__dict__.pop("_bs_time_ms", None)  # the runner's clock restarts at 0


def init_states(model: Module, batch_size: int | None = None) -> Module:
    """Call ``init_state(batch_size)`` on ``model`` and every module in it.

    Returns the model, so ``net = init_states(Net())`` reads naturally.
    """
    _lifecycle(model, "init_state", batch_size)
    return model


def reset_states(model: Module, batch_size: int | None = None) -> Module:
    """Call ``reset_state(batch_size)`` on ``model`` and every module in it."""
    _lifecycle(model, "reset_state", batch_size)
    return model
