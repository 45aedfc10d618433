"""Checkpoints of sharded models with orbax-checkpoint: each process writes its own shards.

The states (their numbers; the units stay in the model), the global random key and the
runner's clock go into one orbax checkpoint directory. Restoring gives every state leaf the
sharding that :func:`shard_model` would give it on the target mesh, which may have another
size than the one that saved: orbax reads each device's slice straight from the files, so
nothing is gathered onto one host either way.
"""
from __future__ import annotations

import os
from typing import Any

import brainunit as u
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .._module import Module
from .._state import State, _is_quantity
from ..random import _random
from ._place import placement

__all__ = ["save_sharded", "restore_sharded"]

_RNG = "__brainsim_random__"
_CLOCK = "__brainsim_clock_ms__"
_CLOCK_ATTR = "_bs_time_ms"   # the runner's clock on the model (see brainsim.runner)


def _orbax():
    try:
        import orbax.checkpoint as ocp
    except ImportError:
        raise ImportError("sharded checkpoints need orbax-checkpoint: pip install "
                          "orbax-checkpoint (or pip install 'brainsim[test]').") from None
    return ocp


def _path(path: Any) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike directory, got "
                        f"{type(path).__name__}.")
    return os.path.abspath(os.fspath(path))


def save_sharded(path: str | os.PathLike, model: Module) -> None:
    """Save every state of ``model`` (placed by :func:`shard_model`) under directory ``path``.

    Every process must call it; each writes the shards its devices hold. The global random
    key and the runner's clock are saved too, so that a run continued after
    :func:`restore_sharded` is the run that would have gone on.

    Parameters
    ----------
    path : str or os.PathLike
        A directory that does not exist yet.

    Raises
    ------
    ValueError
        When ``path`` exists already.
    """
    ocp = _orbax()
    where = _path(path)
    if os.path.exists(where):
        raise ValueError(f"save_sharded: {where} exists already; give a new directory (orbax "
                         "writes a checkpoint once).")
    tree = {key: [u.get_mantissa(x) if _is_quantity(x) else x
                  for x in jax.tree_util.tree_leaves(st.value, is_leaf=_is_quantity)]
            for key, st in _states(model).items()}
    tree[_RNG] = _random.DEFAULT.value
    tree[_CLOCK] = np.asarray(float(getattr(model, _CLOCK_ATTR, 0.)), np.float64)
    ckpt = ocp.StandardCheckpointer()
    ckpt.save(where, tree)
    ckpt.wait_until_finished()
    ckpt.close()


def _states(model: Module) -> dict:
    """The model's states by ``module.path.attr`` (the keys :func:`placement` uses)."""
    out = {}
    for path, mod in [("", model), *model.named_modules().items()]:
        for attr, st in vars(mod).items():
            if isinstance(st, State):
                out[f"{path}.{attr}" if path else attr] = st
    return out


def _saved_meta(ckpt: Any, where: str) -> dict:
    try:
        meta = ckpt.metadata(where)
        return dict(getattr(meta, "item_metadata", meta))
    except Exception as err:   # orbax raises several types for a directory it cannot read
        raise ValueError(f"restore_sharded: {where} is not an orbax checkpoint of "
                         f"save_sharded ({type(err).__name__}: {err}).") from None


def _check_against(meta: dict, target: dict, where: str) -> None:
    """Refuse a checkpoint whose states, shapes or dtypes differ from the model's, before
    orbax reads anything (a read that fails midway leaves its async tasks behind)."""
    missing = sorted(set(target) - set(meta))
    if missing:
        raise ValueError(f"restore_sharded: the checkpoint at {where} has no state "
                         f"{missing[0]!r} of the model; build the model as the one saved.")
    for key, want in target.items():
        have = meta[key]
        want_l = want if isinstance(want, list) else [want]
        have_l = have if isinstance(have, list) else [have]
        if len(have_l) != len(want_l):
            raise ValueError(f"restore_sharded: the checkpoint at {where} does not match the "
                             f"model: state {key!r} has {len(have_l)} leaves saved, the model "
                             f"{len(want_l)}.")
        for h, w in zip(have_l, want_l):
            shape, dtype = tuple(getattr(h, "shape", ())), getattr(h, "dtype", None)
            if shape != tuple(w.shape) or (dtype is not None and np.dtype(dtype) != w.dtype):
                raise ValueError(f"restore_sharded: the checkpoint at {where} does not match "
                                 f"the model: state {key!r} was saved as {shape} {dtype}, the "
                                 f"model has {tuple(w.shape)} {w.dtype}; build the model as "
                                 "the one saved.")


def restore_sharded(path: str | os.PathLike, model: Module, mesh: Mesh,
                    axis: str | None = None) -> Module:
    """Load a checkpoint of :func:`save_sharded` into ``model``, split over ``mesh``.

    ``mesh`` may differ from the one that saved (say 2 devices instead of 4): each device
    reads its own slice. ``model`` must have the same structure (build it the same way and
    call :func:`brainsim.init_states`); the loaded states, random key and clock replace its
    own. A failed restore leaves the model unchanged.

    Raises
    ------
    ValueError
        When ``path`` holds no checkpoint, or its states do not match the model's (the
        message names the first state that differs).

    Examples
    --------
    >>> import tempfile, os, brainsim
    >>> from brainsim import neurons, sharding
    >>> net = brainsim.init_states(neurons.LIF(4))
    >>> mesh = sharding.make_mesh(1)
    >>> _ = sharding.shard_model(net, mesh)
    >>> d = os.path.join(tempfile.mkdtemp(), 'ckpt')
    >>> sharding.save_sharded(d, net)
    >>> _ = sharding.restore_sharded(d, brainsim.init_states(neurons.LIF(4)), mesh)
    """
    ocp = _orbax()
    where = _path(path)
    if not os.path.isdir(where):
        raise ValueError(f"restore_sharded: no checkpoint directory at {where}.")
    plan = placement(model, mesh, axis, "restore_sharded")
    target: dict[str, Any] = {}
    for key, _, _, leaves, specs in plan:
        target[key] = [jax.ShapeDtypeStruct(np.shape(u.get_mantissa(x)),
                                            np.asarray(u.get_mantissa(x)).dtype
                                            if not isinstance(u.get_mantissa(x), jax.Array)
                                            else u.get_mantissa(x).dtype,
                                            sharding=NamedSharding(mesh, P() if s is None else s))
                       for x, s in zip(leaves, specs)]
    key0 = _random.DEFAULT.value
    target[_RNG] = jax.ShapeDtypeStruct(np.shape(key0), np.asarray(key0).dtype,
                                        sharding=NamedSharding(mesh, P()))
    target[_CLOCK] = jax.ShapeDtypeStruct((), np.float64, sharding=NamedSharding(mesh, P()))
    ckpt = ocp.StandardCheckpointer()
    try:
        _check_against(_saved_meta(ckpt, where), target, where)
        got = ckpt.restore(where, target)
    except ValueError as err:
        if str(err).startswith("restore_sharded"):
            raise
        raise ValueError(f"restore_sharded: the checkpoint at {where} does not match the "
                         f"model ({err}).") from None
    finally:
        ckpt.close()
    for key, st, tree, leaves, _ in plan:
        vals = [u.Quantity(v, unit=x.unit) if _is_quantity(x) else v
                for v, x in zip(got[key], leaves)]
        st.value = jax.tree_util.tree_unflatten(tree, vals)
    _random.DEFAULT.value = got[_RNG]
    object.__setattr__(model, _CLOCK_ATTR, float(np.asarray(got[_CLOCK])))
    return model
