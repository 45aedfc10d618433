"""Place a model's states on a mesh: neuron axes split, everything else replicated.

A state leaf is *per neuron* when its owner is a :class:`~brainsim.DynamicsModule` with a 1-D
``varshape`` ``(n,)`` and the leaf's last axis has length ``n`` (membrane potentials,
conductances, refractory counters, the rows of a delay ring buffer, ...). Those are split along
that axis; all other leaves (clocks, pointers, the random key) are replicated. A module that
lays out its own states for the mesh (a connection holding one block of synapses per device)
gives their specs with a ``_placement_specs(mesh, axis)`` method instead. The arrays are built
with :func:`jax.make_array_from_callback`, so each process only supplies its own shards.
"""
from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from .._dynamics import DynamicsModule
from .._module import Module
from .._state import State, _is_quantity
from ..random import _random
from ._mesh import AXIS

__all__ = ["shard_model", "global_array", "placement"]


def global_array(x: Any, mesh: Mesh, spec: P) -> jax.Array:
    """A global array with ``NamedSharding(mesh, spec)`` from ``x``, the same host value in
    every process (each process copies in only the shards its devices hold)."""
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        return jax.device_put(x, NamedSharding(mesh, spec))
    host = np.asarray(x)
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def _place_leaf(x: Any, mesh: Mesh, spec: P) -> Any:
    if _is_quantity(x):
        import brainunit as u
        return u.Quantity(global_array(x.mantissa, mesh, spec), unit=x.unit)
    if isinstance(x, (jax.Array, np.ndarray, np.generic, int, float, bool)):
        return global_array(x, mesh, spec)
    return x


def _neuron_spec(owner: Any, leaf: Any, axis: str) -> P | None:
    if not isinstance(owner, DynamicsModule) or len(owner.varshape) != 1:
        return None
    shape = np.shape(leaf.mantissa if _is_quantity(leaf) else leaf)
    if not shape or shape[-1] != owner.varshape[0]:
        return None
    return P(*([None] * (len(shape) - 1) + [axis]))


def placement(model: Module, mesh: Mesh, axis: str | None, who: str) -> list:
    """``[(path, state, treedef, leaves, specs)]`` for every state of ``model``: the partition spec
    of each leaf on ``mesh`` (None: replicated), or a ValueError naming a population that the
    mesh does not divide."""
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{who}: mesh must be a jax.sharding.Mesh (see "
                        f"brainsim.sharding.make_mesh), got {type(mesh).__name__}.")
    if axis is None:
        if len(mesh.axis_names) != 1:
            raise ValueError(f"{who}: the mesh has axes {mesh.axis_names}; name the one "
                             "to split neurons over with axis=.")
        axis = mesh.axis_names[0]
    if axis not in mesh.axis_names:
        raise ValueError(f"{who}: axis={axis!r} is not an axis of the mesh "
                         f"{mesh.axis_names}.")
    size = mesh.shape[axis]
    plan: list[tuple[str, State, Any, list, list]] = []
    for path, mod in [("", model), *model.named_modules().items()]:
        # the leaf-by-shape rule would replicate (or split along the wrong axis) states that
        # are already one block per device: such a module names their specs itself
        own_specs = mod._placement_specs(mesh, axis) if hasattr(mod, "_placement_specs") else None
        for attr, st in vars(mod).items():
            if not isinstance(st, State):
                continue
            leaves, tree = jax.tree_util.tree_flatten(st.value, is_leaf=_is_quantity)
            own = own_specs.get(attr) if own_specs is not None else None
            if own is not None:
                plan.append((f"{path}.{attr}" if path else attr, st, tree, leaves, list(own)))
                continue
            specs = [_neuron_spec(mod, leaf, axis) for leaf in leaves]
            for spec in specs:
                if spec is not None and mod.varshape[0] % size:
                    n = mod.varshape[0]
                    raise ValueError(
                        f"{who}: population '{path or type(mod).__name__}' has {n} "
                        f"neurons, which a mesh of {size} devices does not divide ({n} % {size} "
                        f"= {n % size}). Use a mesh size that divides {n}, or a population "
                        f"size that is a multiple of {size}.")
            plan.append((f"{path}.{attr}" if path else attr, st, tree, leaves, specs))
    return plan


def shard_model(model: Module, mesh: Mesh, axis: str | None = None) -> Module:
    """Split ``model``'s per-neuron states along ``axis`` of ``mesh``; replicate the others.

    Call it after :func:`brainsim.init_states`. The global random key is replicated too, so
    every device draws from the same stream; with JAX's partitionable threefry (the default),
    a draw of shape ``(n,)`` gives the same numbers whichever way ``n`` is split, which makes
    a sharded run bit-identical to the one-device run with the same seed.

    Parameters
    ----------
    model : Module
        The model, with its states initialised.
    mesh : jax.sharding.Mesh
        A mesh with the axis ``axis`` (see :func:`make_mesh`).
    axis : str, optional
        The mesh axis to split neurons over; default: the mesh's only axis.

    Returns
    -------
    Module
        ``model`` itself, its state values now global arrays on ``mesh``.

    Raises
    ------
    ValueError
        When the mesh size does not divide a population (the message names the population,
        its size and the mesh size), or ``axis`` is not an axis of ``mesh``. Nothing is moved
        then.

    Examples
    --------
    >>> import brainsim
    >>> from brainsim import neurons, sharding
    >>> net = brainsim.init_states(neurons.LIF(8))
    >>> _ = sharding.shard_model(net, sharding.make_mesh(1))
    >>> from jax.sharding import PartitionSpec as P
    >>> net.V.value.mantissa.sharding.spec == P('neurons')
    True
    """
    plan = placement(model, mesh, axis, 'shard_model')
    for _, st, tree, leaves, specs in plan:
        placed = [_place_leaf(x, mesh, P() if s is None else s) for x, s in zip(leaves, specs)]
        st.value = jax.tree_util.tree_unflatten(tree, placed)
    _random.DEFAULT.value = global_array(_random.DEFAULT.value, mesh, P())
    return model
