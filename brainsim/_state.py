"""States: explicit, mutable boxes that the transforms find by tracing.

A :class:`State` holds any pytree of arrays (brainunit quantities included).
Reading or writing ``state.value`` while a brainsim transform traces a
function is recorded by the innermost :class:`StateTrace` and by every trace
around it, which is how ``brainsim.jit`` and friends learn which states a
function uses without being told.
"""

from __future__ import annotations

import weakref
from typing import Any, Callable

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import get_opaque_trace_state

from ._errors import StateValueError, TraceContextError, UnitMismatchError

__all__ = [
    "State",
    "HiddenState",
    "ParamState",
    "ShortTermState",
    "LongTermState",
    "StateTrace",
]

# The traces that are recording right now, outermost first. A plain list is
# enough: tracing happens on one thread, and the common case (no trace) costs
# one truthiness test per read.
_TRACE_STACK: list["StateTrace"] = []


# True while ``reset_state`` runs: the states ``init_state`` creates then are
# only carriers of fresh values, which Module.__setattr__ copies into the
# existing states. So they may be created inside a trace and do not count as
# a new model.
_RESETTING = [False]


def _is_quantity(x: Any) -> bool:
    return isinstance(x, u.Quantity)


def _leaf_sig(x: Any) -> tuple:
    shape = tuple(np.shape(x))
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.result_type(x)
    # Extended dtypes (typed PRNG keys) are their own canonical form.
    return shape, jax.dtypes.canonicalize_dtype(dtype, allow_extended_dtype=True)


def _describe(value: Any) -> str:
    """Short human description: shape, dtype and unit of a value."""
    leaves = jax.tree_util.tree_leaves(value, is_leaf=_is_quantity)
    parts = []
    for leaf in leaves[:4]:
        unit = ""
        if isinstance(leaf, u.Quantity):
            unit = f", unit={leaf.unit}"
            leaf = leaf.mantissa
        shape, dtype = _leaf_sig(leaf)
        parts.append(f"shape={shape}, dtype={dtype}{unit}")
    if len(leaves) > 4:
        parts.append(f"... ({len(leaves)} leaves)")
    return "; ".join(parts) if parts else "an empty pytree"


def _has_tracer(value: Any) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(value))


_USE_BRAINSIM = (
    "use brainsim.cond, brainsim.switch, brainsim.while_loop, brainsim.fori_loop, "
    "brainsim.for_loop/scan, brainsim.jit, brainsim.grad or brainsim.vmap, which carry the "
    "states that their functions read and write."
)


class State:
    """A mutable box around a pytree value, found by brainsim's transforms.

    Parameters
    ----------
    value : pytree
        Any pytree of arrays, including ``brainunit`` quantities. NumPy arrays
        and Python scalars are converted to JAX arrays.
    name : str, optional
        A label used in error messages when the state is not an attribute of
        a :class:`~brainsim.Module` (those are named by their path).

    Notes
    -----
    Writing ``state.value = x`` checks that ``x`` has the same pytree
    structure, shapes, dtypes and units as the current value; on a mismatch a
    :class:`~brainsim.errors.StateValueError` names the state by its path in
    the model and the state keeps its old value. Use :meth:`replace` to change
    the shape or dtype on purpose.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> v = brainsim.HiddenState(jnp.zeros(3) * u.mV)
    >>> v.value = v.value + 1 * u.mV
    >>> v.value.to_decimal(u.mV).tolist()
    [1.0, 1.0, 1.0]
    """

    __module__ = "brainsim"
    __slots__ = ("_value", "_owner", "_attr", "_label", "_replaced", "__weakref__")

    def __init__(self, value: Any, name: str | None = None):
        if _TRACE_STACK and not _RESETTING[0]:
            raise TraceContextError(
                f"A {type(self).__name__} was created inside a function that a brainsim "
                "transform (jit, grad, vmap, for_loop) is tracing. States must exist before "
                "the transform runs. How to fix: create the model (and call "
                "brainsim.init_states(model)) outside the transformed function."
            )
        self._value = jax.tree_util.tree_map(_to_array, value, is_leaf=_is_quantity)
        self._owner = None
        self._attr = None
        self._label = name
        # Counts how often a module attribute holding this state was given
        # another value; a compiled function that uses the state then
        # rediscovers its states (see brainsim.jit).
        self._replaced = 0

    # -- naming ---------------------------------------------------------
    def _set_owner(self, owner: Any, attr: str) -> None:
        if self._owner is None:
            self._owner = weakref.ref(owner)
            self._attr = attr

    @property
    def path(self) -> str:
        """Where the state lives in its model, e.g. ``'net.E.syn.g'``."""
        owner = self._owner() if self._owner is not None else None
        if owner is None:
            return self._label or f"<unnamed {type(self).__name__}>"
        return f"{owner._path()}.{self._attr}"

    # -- value ------------------------------------------------------------
    @property
    def value(self) -> Any:
        """The current value. Reading it inside a transform records the read."""
        if _TRACE_STACK:
            for trace in _TRACE_STACK:
                trace._touch(self)
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        new = self._checked(new)
        if _TRACE_STACK:
            if _has_tracer(new) and _TRACE_STACK[-1]._jax_trace != get_opaque_trace_state():
                # The value was computed inside a JAX transform that brainsim
                # did not open (lax.cond, lax.while_loop, ...): it dies with
                # that trace, and the state would hold a leaked tracer.
                raise TraceContextError(
                    f"State '{self.path}' was written inside a raw JAX transform (such as "
                    "jax.lax.cond, switch, while_loop, fori_loop or scan, or jax.jit/vmap) "
                    "that runs inside a brainsim transform. Those do not carry states, so the "
                    f"new value would leak out of its trace. How to fix: {_USE_BRAINSIM}"
                )
            for trace in _TRACE_STACK:
                trace._touch(self)
                trace._written.add(id(self))
        elif _has_tracer(new):
            raise TraceContextError(
                f"State '{self.path}' was assigned a JAX tracer outside any brainsim "
                "transform, so the tracer would leak out of its trace. This happens when a "
                "function that writes states is wrapped in a raw JAX transform (jax.jit, "
                f"jax.grad, jax.vmap, or jax.lax control flow). How to fix: {_USE_BRAINSIM}"
            )
        self._value = new

    def replace(self, new: Any) -> None:
        """Replace the value, allowing a new shape, dtype or unit.

        Use this for intentional changes such as a new batch size; plain
        assignment to :attr:`value` refuses them.
        """
        if _TRACE_STACK:
            raise TraceContextError(
                f"State '{self.path}' cannot change its shape inside a traced function; "
                "call replace() (or init_state) outside brainsim.jit/for_loop/vmap."
            )
        self._value = jax.tree_util.tree_map(_to_array, new, is_leaf=_is_quantity)

    def _checked(self, new: Any) -> Any:
        """Return ``new`` as arrays of this state's kind, or raise."""
        old = self._value
        old_leaves, old_def = jax.tree_util.tree_flatten(old, is_leaf=_is_quantity)
        new_leaves, new_def = jax.tree_util.tree_flatten(new, is_leaf=_is_quantity)
        if old_def != new_def:
            self._raise_structure(old, new, old_def, new_def)
        out = []
        for o, n in zip(old_leaves, new_leaves):
            if isinstance(o, u.Quantity):
                if not isinstance(n, u.Quantity) or n.unit != o.unit:
                    self._raise_unit(o, n)
                n = u.Quantity(self._checked_leaf(o.mantissa, n.mantissa, old), unit=o.unit)
            elif isinstance(n, u.Quantity):
                self._raise_unit(o, n)
            else:
                n = self._checked_leaf(o, n, old)
            out.append(n)
        return jax.tree_util.tree_unflatten(old_def, out)

    def _checked_leaf(self, old: Any, new: Any, whole_old: Any) -> Any:
        o_shape, o_dtype = _leaf_sig(old)
        n_shape, n_dtype = _leaf_sig(new)
        if o_shape != n_shape:
            raise StateValueError(
                f"Cannot assign a value of shape {n_shape} to state '{self.path}' of shape "
                f"{o_shape}. The state keeps its old value. If the change is intended "
                "(e.g. a new batch size), call state.replace(new_value) or the module's "
                "init_state(batch_size)."
            )
        if o_dtype != n_dtype:
            # Python scalars carry no dtype of their own: cast them quietly.
            if isinstance(new, (bool, int, float)) and not isinstance(new, np.generic):
                return jnp.asarray(new, dtype=o_dtype)
            raise StateValueError(
                f"Cannot assign a value of dtype {n_dtype} to state '{self.path}' of dtype "
                f"{o_dtype} (shape {o_shape}). The state keeps its old value. How to fix: "
                f"cast first, e.g. x.astype(jnp.{o_dtype}), or call state.replace(x) to change "
                "the dtype on purpose."
            )
        if not isinstance(new, jax.Array):
            new = jnp.asarray(new, dtype=o_dtype)
        return new

    def _raise_unit(self, old: Any, new: Any) -> None:
        o_unit = old.unit if isinstance(old, u.Quantity) else "dimensionless (a plain array)"
        n_unit = new.unit if isinstance(new, u.Quantity) else "dimensionless (a plain array)"
        raise UnitMismatchError(
            f"Cannot assign a value with unit {n_unit} to state '{self.path}', which holds "
            f"unit {o_unit}. The state keeps its old value. How to fix: convert the value, "
            f"e.g. x.to({o_unit}) or u.Quantity(x, unit=...), before assigning."
        )

    def _raise_structure(self, old: Any, new: Any, old_def: Any, new_def: Any) -> None:
        def leaf_like(x: Any) -> bool:
            return _is_quantity(x) or isinstance(x, (jax.Array, np.ndarray, float, int))

        if leaf_like(old) and leaf_like(new):
            self._raise_unit(old, new)
        raise StateValueError(
            f"Cannot assign a value with structure {new_def} ({_describe(new)}) to state "
            f"'{self.path}', which holds structure {old_def} ({_describe(old)}). The state "
            "keeps its old value. Use state.replace(new_value) to change it on purpose."
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {_describe(self._value)})"


def _to_array(x: Any) -> Any:
    if isinstance(x, u.Quantity):
        if isinstance(x.mantissa, jax.Array):
            return x
        return u.Quantity(jnp.asarray(x.mantissa), unit=x.unit)
    if isinstance(x, (jax.Array, jax.core.Tracer)):
        return x
    if isinstance(x, (np.ndarray, np.generic, bool, int, float, complex)):
        return jnp.asarray(x)
    return x


class HiddenState(State):
    """A dynamical variable of a model (membrane potential, conductance, ...)."""

    __module__ = "brainsim"
    __slots__ = ()


class ParamState(State):
    """A trainable parameter (weights, time constants being learned, ...)."""

    __module__ = "brainsim"
    __slots__ = ()


class ShortTermState(State):
    """A state kept only within one run, such as a delay buffer or a trace."""

    __module__ = "brainsim"
    __slots__ = ()


class LongTermState(State):
    """A state that persists across runs but is not trained (e.g. optimizer moments)."""

    __module__ = "brainsim"
    __slots__ = ()


class StateTrace:
    """Records the states touched while a transform traces a function.

    On entry the trace is pushed on the global stack; every read or write
    of ``State.value`` is then recorded here (and in any enclosing trace).
    On exit every touched state gets back the value it had before the trace,
    so a failed trace leaves the model unchanged; the transform then writes
    the results back explicitly.

    A transform enters its trace inside the function that JAX traces, so
    the JAX trace current on entry is the one the states' new values belong
    to; a traced write under any other JAX trace is refused.
    """

    __slots__ = ("states", "_index", "_original", "_written", "_jax_trace")

    def __init__(self) -> None:
        self.states: list[State] = []
        self._index: dict[int, int] = {}
        self._original: list[Any] = []
        self._written: set[int] = set()
        self._jax_trace: Any = None

    def _touch(self, state: State) -> None:
        key = id(state)
        if key not in self._index:
            self._index[key] = len(self.states)
            self.states.append(state)
            self._original.append(state._value)

    def swap_in(self, states: list[State], values: list[Any]) -> None:
        """Give ``states`` the (traced) ``values`` for the duration of the trace."""
        for state, val in zip(states, values):
            self._touch(state)
            state._value = val

    def was_written(self, state: State) -> bool:
        return id(state) in self._written

    def written_states(self) -> list[State]:
        return [s for s in self.states if id(s) in self._written]

    def __enter__(self) -> "StateTrace":
        self._jax_trace = get_opaque_trace_state()
        _TRACE_STACK.append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        popped = _TRACE_STACK.pop()
        if popped is not self:  # pragma: no cover - a bug in a transform, not user error
            raise RuntimeError("brainsim: state traces were exited out of order")
        for state, val in zip(self.states, self._original):
            state._value = val


def states_of(tree: Any) -> tuple[list[State], Callable[[list[Any]], Any]]:
    """Flatten a State, a sequence of States or a mapping of States.

    Returns the states in order and a function that puts one value per state
    back into the same structure (used for gradients and vmap).
    """
    if isinstance(tree, State):
        return [tree], lambda vals: vals[0]
    if isinstance(tree, dict):
        keys = list(tree.keys())
        states = [tree[k] for k in keys]
        _check_all_states(states, "a dict")
        return states, lambda vals: dict(zip(keys, vals))
    if isinstance(tree, (list, tuple)):
        states = list(tree)
        _check_all_states(states, f"a {type(tree).__name__}")
        return states, lambda vals: type(tree)(vals)
    raise TypeError(
        f"Expected a State, a list/tuple of States or a dict of States, got "
        f"{type(tree).__name__}. How to fix: pass e.g. model.states(brainsim.ParamState)."
    )


def _check_all_states(states: list[Any], what: str) -> None:
    for s in states:
        if not isinstance(s, State):
            raise TypeError(
                f"Expected {what} of States, but it holds a {type(s).__name__}. How to fix: "
                "pass e.g. model.states(brainsim.ParamState)."
            )
