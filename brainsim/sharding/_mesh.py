"""One device mesh with one named axis, over which populations are split."""
from __future__ import annotations

from typing import Any, Sequence

import jax
import numpy as np
from jax.sharding import Mesh

__all__ = ["make_mesh", "AXIS"]

AXIS = "neurons"
"""The default name of the mesh axis along which neurons (or batch lanes) are split."""


def make_mesh(devices: int | Sequence[Any] | None = None, axis_name: str = AXIS) -> Mesh:
    """A one-axis :class:`jax.sharding.Mesh` over ``devices``.

    Parameters
    ----------
    devices : int, sequence of devices, or None
        An int takes the first ``devices`` of :func:`jax.devices` (all processes' devices, in
        process order); None takes them all.
    axis_name : str
        The name of the mesh axis (default ``'neurons'``).

    Raises
    ------
    ValueError
        When more devices are asked for than exist, with how to get host devices on a CPU.

    Examples
    --------
    >>> from brainsim import sharding
    >>> mesh = sharding.make_mesh(1)
    >>> mesh.shape['neurons']
    1
    """
    avail = jax.devices()
    if devices is None:
        devs = list(avail)
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        n = int(devices)
        if n < 1 or n > len(avail):
            raise ValueError(
                f"make_mesh: devices={n}, but {len(avail)} device(s) exist ({avail[0].platform}). "
                f"Ask for 1..{len(avail)}; on a CPU, get {n} host devices by setting "
                f"XLA_FLAGS=--xla_force_host_platform_device_count={n} (or "
                f"jax.config.update('jax_num_cpu_devices', {n})) before JAX starts.")
        devs = avail[:n]
    else:
        devs = list(devices)
        if not devs:
            raise ValueError("make_mesh: devices is empty; give an int or a list of devices.")
    if not isinstance(axis_name, str) or not axis_name:
        raise TypeError(f"make_mesh: axis_name must be a non-empty str, got {axis_name!r}.")
    return Mesh(np.asarray(devs, dtype=object), (axis_name,))


def split_axis(who: str, mesh: Any, axis: str | None, populations: dict) -> tuple[str, int]:
    """``(axis, devices)`` of the mesh axis a connection is split over, once checked.

    ``populations`` maps a name (``'presynaptic'``, ...) to its size, each of which the
    number of devices along the axis must divide. Raises TypeError / ValueError naming
    ``who``, what was given and the fix.
    """
    if not isinstance(mesh, Mesh):
        raise TypeError(f"{who}: mesh must be a jax.sharding.Mesh (see "
                        f"brainsim.sharding.make_mesh), got {type(mesh).__name__}.")
    axis = mesh.axis_names[0] if axis is None else axis
    if axis not in mesh.axis_names:
        raise ValueError(f"{who}: axis={axis!r} is not an axis of the mesh {mesh.axis_names}.")
    D = mesh.shape[axis]
    for what, k in populations.items():
        if k % D:
            raise ValueError(
                f"{who}: the {what} population has {k} neurons, which a mesh of {D} devices "
                f"does not divide ({k} % {D} = {k % D}). Use a mesh size that divides {k}.")
    return axis, D

