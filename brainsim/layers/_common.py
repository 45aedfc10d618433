"""Input checks shared by the layers."""
from __future__ import annotations

import jax.numpy as jnp

from ..event._units import split_unit

__all__ = ["check_input", "split_weight"]


def check_input(x, in_size: int, name: str) -> None:
    shape = jnp.shape(split_unit(x)[0])
    if len(shape) == 0 or shape[-1] != in_size:
        raise ValueError(f"{name}: input has shape {shape} but the layer expects (..., {in_size}) "
                         f"(in_size={in_size})")


def split_weight(w):
    return split_unit(w)
