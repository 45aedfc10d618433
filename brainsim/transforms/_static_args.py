"""Static arguments of ``brainsim.jit``, resolved the way ``jax.jit`` does it.

``static_argnums`` and ``static_argnames`` complete each other through the
function's signature: an argument named static is also static when passed by
position, and one numbered static is also static when passed by keyword.
Negative numbers count from the end of the positional parameters of the
signature in newer JAX releases and from the end of each call's positional
arguments in older ones; brainsim asks the installed JAX which it does, so that
a function behaves the same under ``brainsim.jit`` and ``jax.jit``. Static values compare by type and value (``1``, ``1.0`` and ``True`` are
different programs), as in ``jax.jit``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Sequence

import jax

__all__ = ["StaticArgs"]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@functools.cache
def _jax_counts_negatives_from_the_signature() -> bool:
    """Whether ``jax.jit`` resolves a negative static index against the signature.

    JAX changed this between releases (in ``api_util.resolve_argnums``): with
    ``f(a, b, c=0)`` and ``static_argnums=-1``, the call ``f(0, 1)`` makes ``b``
    static in older releases and ``c`` (not passed, so ``b`` is traced) in newer
    ones. One tiny trace, once per process, tells which.
    """
    seen = []

    def probe(a, b, c=0):
        seen.append(isinstance(b, jax.core.Tracer))
        return a

    jax.jit(probe, static_argnums=-1)(0., 1)
    return seen[0]


class _Static:
    """A static value as a cache key: equal only to a value of the same type."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: Any, where: str):
        try:
            self._hash = hash(value)
        except TypeError:
            raise TypeError(
                f"brainsim.jit: the static argument {where} is a {type(value).__name__}, which "
                "is not hashable, so it cannot key the compile cache. How to fix: pass a "
                "hashable value (a tuple instead of a list, for example), or make the argument "
                "dynamic (remove it from static_argnums/static_argnames)."
            ) from None
        self.value = value

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, _Static) and type(self.value) is type(other.value)
                and bool(self.value == other.value))


def _as_tuple(x: Any, kind: type, what: str) -> tuple:
    if x is None:
        return ()
    items = (x,) if isinstance(x, kind) else tuple(x)
    for item in items:
        if not isinstance(item, kind) or isinstance(item, bool):
            raise TypeError(f"brainsim.jit: {what} must hold {kind.__name__}s, got {item!r}.")
    return items


class StaticArgs:
    """Splits each call's arguments into a hashable static part and the rest."""

    def __init__(self, fn: Callable, static_argnums: int | Sequence[int] | None,
                 static_argnames: str | Sequence[str] | None):
        nums = _as_tuple(static_argnums, int, "static_argnums")
        names = _as_tuple(static_argnames, str, "static_argnames")
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError):  # some builtins have no signature
            sig = None
        if sig is not None:
            params = list(sig.parameters.values())
            if nums and not names:
                names = tuple(p.name for i, p in enumerate(params)
                              if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and i in nums)
            elif names and not nums:
                nums = tuple(i for i, p in enumerate(params)
                             if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
                             and p.name in names)
            _validate(fn, params, nums, names)
            # After the names are completed from the non-negative numbers, as jax.jit does.
            n_pos = sum(p.kind in _POSITIONAL for p in params)
            if (n_pos and any(i < 0 for i in nums)
                    and not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
                    and _jax_counts_negatives_from_the_signature()):
                nums = tuple(i % n_pos if i < 0 else i for i in nums)
        self.argnums = nums
        self.argnames = names

    def split(self, args: tuple, kwargs: dict) -> tuple[tuple, tuple, dict]:
        """``(static_key, dynamic_args, dynamic_kwargs)`` for one call."""
        n = len(args)
        positions = set()
        for i in self.argnums:
            if i >= n:           # not passed positionally this time
                continue
            if i < -n:
                raise ValueError(
                    f"brainsim.jit: static_argnums contains {i}, but the call has only {n} "
                    "positional arguments (a negative index counts from the last one)."
                )
            positions.add(i % n)
        if not positions and not self.argnames:
            return (), args, kwargs
        pos = tuple((i, _Static(args[i], f"at position {i}")) for i in sorted(positions))
        dyn_args = tuple(a for i, a in enumerate(args) if i not in positions)
        kw = tuple((k, _Static(kwargs[k], f"{k!r}")) for k in sorted(kwargs)
                   if k in self.argnames)
        dyn_kwargs = {k: v for k, v in kwargs.items() if k not in self.argnames}
        return (pos, kw), dyn_args, dyn_kwargs

    @staticmethod
    def merge(static: tuple, dyn_args: tuple, dyn_kwargs: dict) -> tuple[tuple, dict]:
        """Put the static values back: the inverse of :meth:`split`."""
        if not static:
            return dyn_args, dyn_kwargs
        pos, kw = static
        args = list(dyn_args)
        for i, s in pos:  # ascending positions, so each insert lands where it was
            args.insert(i, s.value)
        kwargs = dict(dyn_kwargs)
        kwargs.update((k, s.value) for k, s in kw)
        return tuple(args), kwargs


def _validate(fn: Callable, params: list, nums: tuple, names: tuple) -> None:
    name = getattr(fn, "__qualname__", repr(fn))
    if not any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        n_pos = sum(p.kind in _POSITIONAL for p in params)
        bad = [i for i in nums if not -n_pos <= i < n_pos]
        if bad:
            raise ValueError(
                f"brainsim.jit: static_argnums={nums} but {name} takes only {n_pos} positional "
                f"arguments, so {bad} refer to none of them."
            )
    positional_only = {p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_ONLY}
    if set(names) & positional_only:
        raise ValueError(
            f"brainsim.jit: static_argnames names {sorted(set(names) & positional_only)}, which "
            f"{name} takes positionally only; use static_argnums for them."
        )
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        known = {p.name for p in params if p.kind in _KEYWORD}
        unknown = sorted(set(names) - known)
        if unknown:
            raise ValueError(
                f"brainsim.jit: static_argnames names {unknown}, but {name} has no such "
                f"argument; its arguments are {sorted(known)}."
            )
