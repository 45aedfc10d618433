"""``brainsim.jit``: compile a function that reads and writes states.

How it works. The function is wrapped in a pure function
``pure(env, state_values, *args) -> (out, new_values)`` and handed to
``jax.jit``. Which states to pass in is learned by tracing: a state the trace
meets that is not yet known aborts that trace, joins the known list, and the
call is traced again. ``jax.jit``'s own cache then keys on the shapes and
dtypes of the arguments *and* the states, so a state that changes shape
retraces, and ``env`` (the environ settings such as ``dt``) is a static
argument so a new ``dt`` recompiles. Unwritten states come back as ``None``,
which costs nothing in the output pytree.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Sequence

import jax

from .. import _state
from ..environ import _environ
from .._state import State, StateTrace

__all__ = ["jit"]


class _NewStates(Exception):
    """Internal: the trace met states it was not given; retrace with them."""

    def __init__(self, states: list[State]):
        super().__init__(f"{len(states)} new states")
        self.states = states


class JittedFunction:
    """A compiled stateful function; call it like the original.

    Attributes
    ----------
    states : list of State
        The states the function reads or writes, as found by tracing.
    """

    __module__ = "brainsim"

    def __init__(self, fn: Callable, static_argnums: Sequence[int] = (),
                 static_argnames: Sequence[str] = ()):
        self.fn = fn
        self._static_argnums = tuple(static_argnums)
        self._static_argnames = tuple(static_argnames)
        self.states: list[State] = []
        self._epoch = _state._EPOCH[0]
        self._compiled = self._make()
        functools.update_wrapper(self, fn)

    def _make(self) -> Callable:
        known = list(self.states)
        fn = self.fn

        def pure(env: tuple, values: list, *args: Any, **kwargs: Any):
            with StateTrace() as trace:
                trace.swap_in(known, values)
                out = fn(*args, **kwargs)
                new = trace.states[len(known):]
                if new:
                    raise _NewStates(new)
                written = [s._value if trace.was_written(s) else None for s in known]
            return out, written

        statics = (0,) + tuple(i + 2 for i in self._static_argnums)
        return jax.jit(pure, static_argnums=statics, static_argnames=self._static_argnames)

    def _rediscover(self, extra: list[State] | None) -> None:
        if extra is None:
            self.states = []
        else:
            seen = {id(s) for s in self.states}
            self.states = self.states + [s for s in extra if id(s) not in seen]
        self._epoch = _state._EPOCH[0]
        self._compiled = self._make()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._epoch != _state._EPOCH[0]:
            # States were created since the last trace: the model may have been
            # rebuilt, so the cached states could be stale objects.
            self._rediscover(None)
        nested = bool(_state._TRACE_STACK)
        while True:
            states = self.states
            if nested:
                values = [s.value for s in states]
            else:
                values = [s._value for s in states]
            try:
                out, written = self._compiled(_environ._SIGNATURE[0], values, *args, **kwargs)
                break
            except _NewStates as e:
                self._rediscover(e.states)
        if nested:
            for s, v in zip(states, written):
                if v is not None:
                    s.value = v
        else:
            for s, v in zip(states, written):
                if v is not None:
                    s._value = v
        return out

    def clear_cache(self) -> None:
        """Drop compiled programs and rediscover the states on the next call."""
        self._rediscover(None)

    def __repr__(self) -> str:
        return f"brainsim.jit({getattr(self.fn, '__qualname__', self.fn)!r})"


def jit(fn: Callable | None = None, *, static_argnums: int | Sequence[int] = (),
        static_argnames: str | Sequence[str] = ()):
    """Compile a function that reads and writes :class:`~brainsim.State` s.

    The states are found by tracing ``fn``: do not pass the model in. New
    state values are written back after every call.

    Parameters
    ----------
    fn : callable
        The function. It may read and write any states that exist before the
        first call. Can be used as a decorator, with or without arguments.
    static_argnums, static_argnames : int or sequence, optional
        Arguments that are Python values (compiled into the program).

    Returns
    -------
    JittedFunction
        Callable like ``fn``. It compiles once per signature of the arguments,
        the states (shape and dtype) and the environ settings (e.g. ``dt``).

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> count = brainsim.State(jnp.zeros(()))
    >>> @brainsim.jit
    ... def step(x):
    ...     count.value = count.value + x
    ...     return count.value * 2
    >>> float(step(1.)), float(step(2.))
    (2.0, 6.0)
    >>> float(count.value)
    3.0
    """
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if isinstance(static_argnames, str):
        static_argnames = (static_argnames,)
    if fn is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames)
    if not callable(fn):
        raise TypeError(f"brainsim.jit expects a callable, got {type(fn).__name__}.")
    return JittedFunction(fn, static_argnums, static_argnames)
