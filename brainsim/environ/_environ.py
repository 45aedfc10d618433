"""Simulation settings (the time step ``dt``) and the loop clock (``t``, ``i``).

Settings live in a global table that :func:`set` changes and a stack of
overrides that :func:`context` pushes. The compiled-function caches key on
:func:`signature`, so changing ``dt`` between calls recompiles instead of
reusing a program built for another ``dt``.
"""

from __future__ import annotations

import contextlib
import difflib
import math
from typing import Any, Iterator

import brainunit as u

from .._errors import UnitMismatchError

__all__ = ["set", "context", "get", "get_dt", "get_t", "get_i", "signature"]

_GLOBAL: dict[str, Any] = {}
_STACK: list[dict[str, Any]] = []
# The clock of the innermost running brainsim.for_loop: (i, t) as traced values.
_CLOCK: list[tuple[Any, Any]] = []
_SIGNATURE: list[tuple] = [()]
_MISSING = object()


# The settings brainsim reads. An unknown key is refused: a typo such as
# ``dtt=...`` would otherwise be stored and silently ignored.
_KNOWN = ("dt",)
_CLOCK_KEYS = ("t", "i")


def _check_key(key: str, where: str) -> None:
    if key in _CLOCK_KEYS:
        raise ValueError(
            f"'{key}' is the loop clock and cannot be set; brainsim.for_loop advances it."
        )
    if key not in _KNOWN:
        close = difflib.get_close_matches(key, _KNOWN, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise TypeError(
            f"brainsim.environ.{where}() got an unknown setting '{key}'.{hint} Known settings: "
            f"{', '.join(repr(k) for k in _KNOWN)}."
        )


def _check_dt(value: Any) -> Any:
    expected = "a positive, finite, scalar time quantity such as 0.1 * u.ms (import brainunit as u)"
    shown = str(value) if isinstance(value, u.Quantity) else repr(value)
    if not isinstance(value, u.Quantity) or not value.unit.has_same_dim(u.second):
        unit = value.unit if isinstance(value, u.Quantity) else type(value).__name__
        raise UnitMismatchError(
            f"dt must be a time quantity: expected {expected}; got {shown} ({unit})."
        )
    if value.ndim != 0:
        raise ValueError(f"dt must be a scalar: expected {expected}; got shape {value.shape}.")
    ms = float(value.to_decimal(u.ms))
    if not (math.isfinite(ms) and ms > 0):
        raise ValueError(f"dt must be a positive scalar time: expected {expected}; got {shown}.")
    return value


def _check(key: str, value: Any, where: str) -> Any:
    _check_key(key, where)
    if key == "dt":
        return _check_dt(value)
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, u.Quantity):
        return ("Quantity", float(value.mantissa), str(value.unit))
    try:
        hash(value)
    except TypeError:
        return ("repr", repr(value))
    return value


def _refresh() -> None:
    merged = dict(_GLOBAL)
    for layer in _STACK:
        merged.update(layer)
    _SIGNATURE[0] = tuple(sorted((k, _hashable(v)) for k, v in merged.items()))


def set(**settings: Any) -> None:
    """Set simulation settings globally, e.g. ``environ.set(dt=0.1 * u.ms)``.

    Parameters
    ----------
    dt : Quantity
        The time step: a positive, finite scalar time such as ``0.1 * u.ms``.

    Raises
    ------
    ValueError
        If a value is invalid (for ``dt``: not a time, not positive, not
        finite, or not a scalar). Nothing is changed.
    TypeError
        If a setting is unknown; the message suggests the closest known name.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> brainsim.environ.set(dtt=0.1 * u.ms)
    Traceback (most recent call last):
    ...
    TypeError: brainsim.environ.set() got an unknown setting 'dtt'. Did you mean 'dt'? Known settings: 'dt'.
    """
    checked = {key: _check(key, value, "set") for key, value in settings.items()}
    _GLOBAL.update(checked)
    _refresh()


@contextlib.contextmanager
def context(**settings: Any) -> Iterator[None]:
    """Override settings inside a ``with`` block.

    Examples
    --------
    >>> import brainsim, brainunit as u
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     print(brainsim.environ.get_dt())
    0.1 ms
    """
    _STACK.append({k: _check(k, v, "context") for k, v in settings.items()})
    _refresh()
    try:
        yield
    finally:
        _STACK.pop()
        _refresh()


def get(key: str, default: Any = _MISSING) -> Any:
    """The current value of a setting, or ``default`` when it is not set.

    Raises
    ------
    TypeError
        If ``key`` is not a known setting (even with a ``default``: a misspelt key
        would otherwise silently give the default); the message suggests the closest name.
    ValueError
        If ``key`` is ``'t'`` or ``'i'``, the loop clock, read with :func:`get_t` / :func:`get_i`.
    KeyError
        If a known setting is not set and no ``default`` is given.
    """
    if key in _CLOCK_KEYS:
        raise ValueError(f"'{key}' is the loop clock, not a setting: read it with "
                         f"brainsim.environ.get_{key}() inside brainsim.for_loop.")
    _check_key(key, "get")
    for layer in reversed(_STACK):
        if key in layer:
            return layer[key]
    if key in _GLOBAL:
        return _GLOBAL[key]
    if default is _MISSING:
        raise KeyError(
            f"Setting '{key}' is not set. Set it with brainsim.environ.set({key}=...) or "
            f"`with brainsim.environ.context({key}=...):`."
        )
    return default


def get_dt() -> u.Quantity:
    """The simulation time step.

    Raises
    ------
    ValueError
        If no ``dt`` was set; the message says how to set one.
    """
    dt = get("dt", None)
    if dt is None:
        raise ValueError(
            "No time step is set. How to fix: call brainsim.environ.set(dt=0.1 * u.ms) once, "
            "or run inside `with brainsim.environ.context(dt=0.1 * u.ms):` "
            "(with `import brainunit as u`)."
        )
    return dt


def get_i() -> Any:
    """The step index inside the running :func:`brainsim.for_loop` (an int32 array)."""
    if not _CLOCK:
        raise ValueError(
            "get_i() is only defined inside brainsim.for_loop (or brainsim.run), which "
            "advances the step index. Outside a loop, pass the step yourself."
        )
    return _CLOCK[-1][0]


def get_t() -> Any:
    """The current time ``t = i * dt`` inside the running :func:`brainsim.for_loop`."""
    if not _CLOCK:
        raise ValueError(
            "get_t() is only defined inside brainsim.for_loop (or brainsim.run), which "
            "advances the time. Outside a loop, pass the time yourself."
        )
    return _CLOCK[-1][1]


def signature() -> tuple:
    """A hashable snapshot of the settings, used as a compile-cache key."""
    return _SIGNATURE[0]


@contextlib.contextmanager
def _clock(i: Any, t: Any) -> Iterator[None]:
    _CLOCK.append((i, t))
    try:
        yield
    finally:
        _CLOCK.pop()
