"""States as explicit values of a JAX control-flow primitive.

``lax.scan``, ``lax.cond`` and ``lax.while_loop`` only see values passed in
and returned. The stateful transforms therefore (1) trace the user's
functions once abstractly (``jax.eval_shape``) to learn which states they
write, and (2) pass those states' values in and out of the primitive, giving
each state its traced value while the function runs. States that are only
read are closed over, which JAX allows. ``for_loop``/``scan``, ``cond``,
``switch``, ``while_loop`` and ``fori_loop`` all use these two steps.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from .._errors import TraceContextError
from .._state import State, StateTrace

__all__ = ["written_states", "call_with_states"]


def written_states(fns: Sequence[Callable], *args: Any) -> list[State]:
    """The states any of ``fns(*args)`` writes, in first-written order.

    Runs each function under ``jax.eval_shape`` (nothing is computed) and puts
    every state back as it was. ``args`` may hold arrays or
    ``jax.ShapeDtypeStruct``.
    """
    found: list[State] = []
    seen: set[int] = set()
    for fn in fns:
        trace = StateTrace()

        def probe(*a: Any, fn: Callable = fn, trace: StateTrace = trace) -> Any:
            # Entered inside the traced function: the writes belong to this trace.
            with trace:
                return fn(*a)

        jax.eval_shape(probe, *args)
        for s in trace.written_states():
            if id(s) not in seen:
                seen.add(id(s))
                found.append(s)
    return found


def call_with_states(fn: Callable, states: list[State], values: list[Any], *args: Any,
                     where: str) -> tuple[Any, list[Any]]:
    """Run ``fn(*args)`` with ``states`` holding ``values``; return its result
    and the states' values afterwards.

    Meant to run inside the function a JAX primitive traces. Writing a state
    that the discovery did not see (a Python branch on a traced value, say)
    raises a :class:`~brainsim.errors.TraceContextError`.
    """
    carried = {id(s) for s in states}
    with StateTrace() as trace:
        trace.swap_in(states, values)
        out = fn(*args)
        missing = [s for s in trace.written_states() if id(s) not in carried]
        if missing:
            raise TraceContextError(
                f"{where}: the function wrote state(s) {[s.path for s in missing]} in one trace "
                "but not in another, so they are not carried. A function must write the same "
                "states every time it is traced; avoid Python branches that depend on traced "
                "values."
            )
        new = [s._value for s in states]
    return out, new
