"""``brainsim.jit``: compile a function that reads and writes states.

How it works. The function is wrapped in a pure function
``pure(env, static, state_values, args, kwargs) -> (out, new_values)`` and
handed to ``jax.jit``. Which states to pass in is learned by tracing: a state
the trace meets that is not yet known aborts that trace, joins the known
list, and the call is traced again (with a new ``jax.jit``: programs traced
for the old list can never be called again). ``jax.jit``'s own cache then
keys on the shapes and dtypes of the arguments *and* the states, on ``env``
(the environ settings such as ``dt``, so a new ``dt`` recompiles) and on the
static arguments. Unwritten states come back as ``None``, which costs
nothing in the output pytree.

When is it traced again? Only when one of *its* states was replaced: the
module attribute that held it was given another value (``init_states``
creates new states, for example), or nothing but this function still holds
it. The function then rediscovers its states on the next call. Creating
unrelated states costs nothing, and the programs compiled for other
signatures stay cached.
"""

from __future__ import annotations

import functools
import weakref
from typing import Any, Callable, Sequence

import jax

from .. import _state
from ..environ import _environ, _simd
from .._state import State, StateTrace
from ._static_args import StaticArgs

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

    def __init__(self, fn: Callable, static_argnums: int | Sequence[int] = (),
                 static_argnames: str | Sequence[str] = ()):
        self.fn = fn
        self._static = StaticArgs(fn, static_argnums, static_argnames)
        # Weak references: a state that only this function still holds has been
        # replaced in the user's code, and must be rediscovered, not kept alive.
        self._refs: list[weakref.ref] = []
        self._replaced: list[int] = []   # each state's replacement count when found
        self._compiled = self._make([])
        functools.update_wrapper(self, fn)

    @property
    def states(self) -> list[State]:
        live = [r() for r in self._refs]
        return [s for s in live if s is not None]

    def _make(self, known: list[State]) -> Callable:
        fn = self.fn
        self._refs = [weakref.ref(s) for s in known]
        self._replaced = [s._replaced for s in known]
        self._generation = _simd.generation[0]
        # The program holds the states only weakly too; they are alive whenever
        # it is traced, because __call__ holds them.
        refs = self._refs

        def pure(env: tuple, static: tuple, values: list, args: tuple, kwargs: dict):
            states = [r() for r in refs]
            args, kwargs = StaticArgs.merge(static, args, kwargs)
            with StateTrace() as trace:
                trace.swap_in(states, values)
                out = fn(*args, **kwargs)
                new = trace.states[len(states):]
                if new:
                    raise _NewStates(new)
                written = [s._value if trace.was_written(s) else None for s in states]
            return out, written

        options = _simd.compiler_options()
        # jax takes compiler options only on a top-level jit: called inside another trace
        # (a for_loop body, a user's jax.jit), the program is part of the outer one
        self._plain = jax.jit(pure, static_argnums=(0, 1))
        if not options:
            return self._plain
        return jax.jit(pure, static_argnums=(0, 1), compiler_options=options)

    def _run(self, method: str, states: list[State], nested: bool, *args: Any) -> Any:
        """``<method>(*args)`` of the program: with the SIMD option at the top level, without it
        inside another trace or where jaxlib refuses it."""
        if nested or self._plain is self._compiled:
            return getattr(self._plain, method)(*args)
        try:
            return getattr(self._compiled, method)(*args)
        except ValueError as e:    # under a trace brainsim does not see: a user's jax.jit
            if "compiler_options" not in str(e) or "top-level" not in str(e):
                raise
            # jax has cached the trace of ``pure``: the plain program does not trace it again
            return getattr(self._plain, method)(*args)
        except Exception as e:     # jaxlib's runtime error has no stable public class
            if not _simd.is_refusal(e):
                raise
            _simd.refuse()
            self._compiled = self._make(states)
            return getattr(self._compiled, method)(*args)

    def _current_states(self) -> list[State]:
        """The known states; rediscovered if one of them was replaced since."""
        states = []
        if self._generation != _simd.generation[0]:     # another SIMD width: compile anew
            self._compiled = self._make([])
            return []
        for ref, count in zip(self._refs, self._replaced):
            s = ref()
            if s is None or s._replaced != count:
                self._compiled = self._make([])
                return []
            states.append(s)
        return states

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        states = self._current_states()
        static, dyn_args, dyn_kwargs = self._static.split(args, kwargs)
        nested = bool(_state._TRACE_STACK)
        while True:
            if nested:
                values = [s.value for s in states]
            else:
                values = [s._value for s in states]
            try:
                out, written = self._run("__call__", states, nested, _environ._SIGNATURE[0],
                                         static, values, dyn_args, dyn_kwargs)
                break
            except _NewStates as e:
                seen = {id(s) for s in states}
                states = states + [s for s in e.states if id(s) not in seen]
                self._compiled = self._make(states)
        if nested:
            for s, v in zip(states, written):
                if v is not None:
                    s.value = v
        else:
            for s, v in zip(states, written):
                if v is not None:
                    s._value = v
        return out

    def lower(self, *args: Any, **kwargs: Any) -> Any:
        """Trace and lower for these arguments without running: JAX's ``Lowered``.

        Its ``.compile().memory_analysis()`` gives the compiled program's memory (arguments,
        outputs, temporaries) and ``.as_text()`` its StableHLO. No state changes.
        """
        states = self._current_states()
        static, dyn_args, dyn_kwargs = self._static.split(args, kwargs)
        nested = bool(_state._TRACE_STACK)
        while True:
            values = [s.value if nested else s._value for s in states]
            try:
                return self._run("lower", states, nested, _environ._SIGNATURE[0], static,
                                 values, dyn_args, dyn_kwargs)
            except _NewStates as e:
                seen = {id(s) for s in states}
                states = states + [s for s in e.states if id(s) not in seen]
                self._compiled = self._make(states)

    def clear_cache(self) -> None:
        """Drop compiled programs and rediscover the states on the next call."""
        self._compiled = self._make([])

    def __repr__(self) -> str:
        return f"brainsim.jit({getattr(self.fn, '__qualname__', self.fn)!r})"


def jit(fn: Callable | None = None, *, static_argnums: int | Sequence[int] | None = None,
        static_argnames: str | Sequence[str] | None = None):
    """Compile a function that reads and writes :class:`~brainsim.State` s.

    The states are found by tracing ``fn``: do not pass the model in. New
    state values are written back after every call.

    Parameters
    ----------
    fn : callable
        The function. It may read and write any states that exist before the
        first call. Can be used as a decorator, with or without arguments.
    static_argnums, static_argnames : int/str or sequence, optional
        Arguments that are Python values (compiled into the program), as in
        ``jax.jit``: each completes the other through ``fn``'s signature, so
        a static argument may be passed by position or keyword; negative
        numbers count from the last positional argument. A new static value
        (compared by type and value) compiles a new program.

    Returns
    -------
    JittedFunction
        Callable like ``fn``. It compiles once per signature of the arguments,
        the states (shape and dtype) and the environ settings (e.g. ``dt``),
        and traces again only when one of its own states was replaced (for
        example by ``init_states`` on its model).

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
    if fn is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames)
    if not callable(fn):
        raise TypeError(f"brainsim.jit expects a callable, got {type(fn).__name__}.")
    return JittedFunction(fn, static_argnums, static_argnames)
