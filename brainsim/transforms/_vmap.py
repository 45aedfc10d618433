"""``brainsim.vmap``: vectorise a stateful function over a batch.

The user names the batched states explicitly (``batched_states=``); every
other state is shared by all lanes and may be read but not written with
per-lane values. That mistake is caught with a message naming the state,
instead of silently keeping one lane's value. The global random key is split
into one key per lane, so lanes draw different numbers.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import jax

from .._errors import TraceContextError
from .._state import State, StateTrace, states_of
from ..random import _random
from ._shard_map import shard_map

__all__ = ["vmap"]


def _axis_size(states: list[State], args: tuple, in_axes: tuple, axis_size: int | None) -> int:
    sizes: dict[int, str] = {}
    for s in states:
        leaves = jax.tree_util.tree_leaves(s.value)
        for leaf in leaves:
            if leaf.ndim == 0:
                raise ValueError(
                    f"batched state '{s.path}' is a scalar, so it has no batch axis 0. How to "
                    "fix: create it with a batch axis (e.g. brainsim.init_states(model, "
                    "batch_size=B)) or leave it out of batched_states."
                )
            sizes.setdefault(int(leaf.shape[0]), f"state '{s.path}'")
    for k, (a, ax) in enumerate(zip(args, in_axes)):
        if ax is None:
            continue
        for leaf in jax.tree_util.tree_leaves(a):
            sizes.setdefault(int(leaf.shape[ax]), f"argument {k}")
    if axis_size is not None:
        sizes.setdefault(int(axis_size), "axis_size")
    if len(sizes) > 1:
        detail = ", ".join(f"{who} has {n}" for n, who in sizes.items())
        raise ValueError(
            f"brainsim.vmap: the batch sizes disagree ({detail}). Every batched state and "
            "mapped argument needs the same size along its batch axis."
        )
    if not sizes:
        raise ValueError(
            "brainsim.vmap: nothing to map over. Give batched_states, a mapped argument "
            "(in_axes) or axis_size."
        )
    return next(iter(sizes))


def _spec(axis: int | None, name: str) -> Any:
    from jax.sharding import PartitionSpec as P
    return P() if axis is None else P(*([None] * axis + [name]))


def _mesh_axis(mesh: Any, out_axes: Any) -> str:
    from jax.sharding import Mesh
    if not isinstance(mesh, Mesh):
        raise TypeError(f"brainsim.vmap: mesh must be a jax.sharding.Mesh (see "
                        f"brainsim.sharding.make_mesh), got {type(mesh).__name__}.")
    if len(mesh.axis_names) != 1:
        raise ValueError(f"brainsim.vmap: the mesh must have one axis to split the batch over, "
                         f"got axes {mesh.axis_names}.")
    axes = jax.tree_util.tree_leaves(out_axes, is_leaf=lambda x: x is None)
    if not all(a == 0 for a in axes):
        raise ValueError(f"brainsim.vmap: with mesh=, the results are split along their batch "
                         f"axis 0; got out_axes={out_axes!r}. Use out_axes=0.")
    return mesh.axis_names[0]


def vmap(fn: Callable, in_axes: int | None | Sequence[Any] = 0, out_axes: Any = 0,
         batched_states: Any = None, axis_size: int | None = None,
         mesh: Any = None) -> Callable:
    """Vectorise ``fn`` over a batch axis, with batched and shared states.

    Parameters
    ----------
    fn : callable
        The function for one batch element.
    in_axes, out_axes
        As in ``jax.vmap``, for the arguments and results.
    batched_states : State, sequence or dict of States, or callable, optional
        States that carry a leading batch axis 0; each lane sees and updates
        its own slice. A callable returning them is evaluated at each call,
        which keeps working when ``init_state`` re-creates the states. All
        other states are shared: lanes may read them, and writing one with a
        per-lane value raises a :class:`~brainsim.errors.TraceContextError`.
    axis_size : int, optional
        The batch size when nothing else gives it.
    mesh : jax.sharding.Mesh, optional
        Split the batch over the devices of this one-axis mesh (of one or several
        processes): each device runs its share of the lanes, inside ``jax.shard_map``, with
        no communication. The batch size must be a multiple of the mesh size, and
        ``out_axes`` 0. The lanes draw the same random numbers as without ``mesh``.

    Examples
    --------
    >>> import brainsim, jax.numpy as jnp
    >>> v = brainsim.HiddenState(jnp.zeros((4, 2)))     # batch of 4
    >>> scale = brainsim.State(jnp.array(10.))          # shared
    >>> def step(x):
    ...     v.value = v.value + x * scale.value
    ...     return v.value.sum()
    >>> brainsim.vmap(step, batched_states=[v])(jnp.arange(4.)).tolist()
    [0.0, 20.0, 40.0, 60.0]
    """

    def wrapped(*args: Any):
        source = batched_states() if callable(batched_states) and not isinstance(
            batched_states, State) else batched_states
        states, _ = states_of(source) if source is not None else ([], None)
        axes = tuple(in_axes) if isinstance(in_axes, (list, tuple)) else (in_axes,) * len(args)
        if len(axes) != len(args):
            raise ValueError(
                f"brainsim.vmap: in_axes has {len(axes)} entries but the function got "
                f"{len(args)} positional arguments."
            )
        n = _axis_size(states, args, axes, axis_size)
        rng = _random.DEFAULT
        lane_keys = rng.split_key(n)
        shared_written: list[State] = []

        def pure(bvals: list, keys: Any, *a: Any):
            with StateTrace() as trace:
                trace.swap_in(states, bvals)
                trace.swap_in([rng], [keys])
                out = fn(*a)
                ids = {id(s) for s in states} | {id(rng)}
                shared = [s for s in trace.written_states() if id(s) not in ids]
                shared_written[:] = shared
                new_b = [s._value for s in states]
                new_shared = [s._value for s in shared]
            return out, new_b, new_shared

        bvals = [s.value for s in states]
        run = jax.vmap(pure, in_axes=(0, 0) + axes, out_axes=(out_axes, 0, None),
                       axis_size=n if mesh is None else n // mesh.size)
        if mesh is not None:
            name = _mesh_axis(mesh, out_axes)
            if n % mesh.size:
                raise ValueError(
                    f"brainsim.vmap: the batch of {n} lanes does not split over a mesh of "
                    f"{mesh.size} devices ({n} % {mesh.size} = {n % mesh.size}). Use a batch "
                    f"size that is a multiple of {mesh.size}.")
            run = shard_map(run, mesh, (_spec(0, name), _spec(0, name))
                            + tuple(_spec(a, name) for a in axes),
                            (_spec(0, name), _spec(0, name), _spec(None, name)))
        try:
            out, new_b, new_shared = run(bvals, lane_keys, *args)
        except ValueError as err:
            if shared_written and "out_axes" in str(err):
                names = [s.path for s in shared_written]
                raise TraceContextError(
                    f"brainsim.vmap: state(s) {names} are shared by all lanes (not in "
                    "batched_states) but were written with per-lane values. How to fix: add "
                    "them to batched_states (with a leading batch axis), or do not write them "
                    "inside the vmapped function."
                ) from None
            raise
        for s, v in zip(states, new_b):
            s.value = v
        for s, v in zip(shared_written, new_shared):
            s.value = v
        return out

    return wrapped
