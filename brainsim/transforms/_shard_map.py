"""``jax.shard_map`` on every supported JAX (``jax.experimental.shard_map`` before 0.7)."""
from __future__ import annotations

from typing import Any, Callable

import jax

__all__ = ["shard_map"]


def shard_map(f: Callable, mesh: Any, in_specs: Any, out_specs: Any) -> Callable:
    """``f`` run per shard of ``mesh``; replication is not checked (the callers' outputs are
    either split along the mesh axis or equal on every device by construction)."""
    sm = getattr(jax, "shard_map", None)
    if sm is not None:
        return sm(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_vma=False)
    from jax.experimental.shard_map import shard_map as esm
    return esm(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, check_rep=False)
