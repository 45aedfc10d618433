"""What every projection shares: reading presynaptic spikes, delays and the communication."""
from __future__ import annotations

import itertools
from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._module import Module
from ..event import BinaryArray
from ._delay import Delay

__all__ = ["Projection", "apply_comm", "comm_unit"]

_COUNTER = itertools.count()


def apply_comm(comm: Any, x: Any, binary: bool = True) -> Any:
    """``comm(x)`` for a callable, else the product of ``x`` with the matrix ``comm``.

    Spikes (``binary=True``) go through :class:`brainsim.event.BinaryArray`, so
    sparse and dense matrices alike are multiplied event by event.
    """
    if callable(comm):
        return comm(x)
    return (BinaryArray(x) @ comm) if binary else (x @ comm)


def comm_unit(comm: Any, n_pre: int | None) -> Any:
    """The unit of what ``comm`` returns (None for plain numbers), found without running it."""
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


def _pre_size(pre: Any, comm: Any) -> int | None:
    if pre is not None:
        return int(jnp.prod(jnp.asarray(pre.varshape)))
    shape = getattr(comm, "shape", None)
    return int(shape[0]) if shape is not None and len(shape) == 2 else None


def _check_comm_shape(cls: str, comm: Any, pre: Any, post: Any) -> None:
    """A weight matrix must map the pre population onto the post population."""
    shape = getattr(comm, "shape", None)
    if shape is None or len(shape) != 2:
        return  # callables and scalars: checked by their own code
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


class Projection(Module):
    """Base class: holds the presynaptic population, an optional delay and ``comm``.

    ``pre`` and ``post`` are referenced, not owned: put the neurons in your
    network yourself so they are found, initialised and updated once.
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
        self.comm = comm
        _check_comm_shape(type(self).__name__, comm, pre, post)
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
        return self.update(*args, **kwargs)

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
