"""Gap junctions: electrical coupling through a conductance matrix."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax.numpy as jnp

from .._module import Module
from ._base import apply_comm

__all__ = ["GapJunction"]


class GapJunction(Module):
    r"""Electrical synapses: adds :math:`I_i = \sum_j g_{ji} (V_j - V_i)` to each post neuron.

    Built once, it registers the current as a callable input of ``post``
    (evaluated at ``post``'s membrane potential every step); there is
    nothing to call per step.

    Parameters
    ----------
    conn : array or Quantity ``(n, n)``, or a brainsim.event matrix
        Conductances in the pre x post layout of every ``comm``:
        ``conn[j, i]`` couples neuron ``j`` to neuron ``i`` (symmetric for
        ordinary gap junctions). Dense arrays and any :mod:`brainsim.event`
        format work; the unit times the unit of ``V`` must be a current
        (e.g. nS with mV), or both are plain numbers.
    post : neuron or brainsim.NeuronGroup
        The coupled population (a NeuronGroup needs ``current=``).

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import projections
    >>> g = brainsim.NeuronGroup(2, 'dv/dt = Igap / (1*ms) : 1\nIgap : 1', current='Igap')
    >>> gap = projections.GapJunction(jnp.array([[0., 1.], [1., 0.]]), g)
    >>> g.v = jnp.array([1., 0.])
    >>> g = brainsim.init_states(g)
    >>> with brainsim.environ.context(dt=0.01 * u.ms):
    ...     _ = brainsim.for_loop(lambda: g(), length=500)
    >>> [round(float(v), 3) for v in g.v.value]     # both relax to the mean
    [0.5, 0.5]
    """

    __module__ = "brainsim.projections"

    def __init__(self, conn: Any, post: Any, name: str | None = None):
        super().__init__(name=name)
        n = post.varshape[-1] if hasattr(post, "varshape") else None
        shape = tuple(getattr(conn, "shape", ()))
        if len(shape) != 2 or shape[0] != shape[1] or (n is not None and shape[0] != n):
            raise ValueError(f"GapJunction: conn must be a square (n, n) matrix for the {n} post "
                             f"neurons, got shape {shape}.")
        self.conn = conn
        object.__setattr__(self, "_bs_post", post)
        self._bs_gsum = apply_comm(conn, jnp.ones((shape[0],), jnp.float32), binary=False)
        post.add_current_input(f"GapJunction{id(self)}", self._current)

    def _current(self, V: Any) -> Any:
        # on mantissas: the event formats multiply plain vectors and keep their own unit
        vm = u.get_mantissa(V)
        current = apply_comm(self.conn, vm, binary=False) - vm * self._bs_gsum
        return current * V.unit if isinstance(V, u.Quantity) else current

    @property
    def post(self) -> Any:
        return self._bs_post
