"""Projections without synaptic dynamics: voltage jumps and plain currents."""
from __future__ import annotations

from typing import Any

from ._base import Projection

__all__ = ["DeltaProj", "CurrentProj"]


class DeltaProj(Projection):
    r"""Each presynaptic spike makes the postsynaptic ``V`` jump by the weight.

    .. math:: V_j \leftarrow V_j + \sum_i s_i(t - d) W_{ij}

    Weights carry the unit of ``V`` (e.g. mV). With ``target='ge'`` the jump
    goes to the variable ``ge`` of a :class:`brainsim.NeuronGroup` instead
    (Brian's ``on_pre='ge += w'``); weights then carry the unit of ``ge``.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons, projections
    >>> post = brainsim.init_states(neurons.LIF(2, V_th=10. * u.mV))
    >>> p = projections.DeltaProj(jnp.array([[1., 2.]]) * u.mV, post=post)
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     p.update(jnp.ones(1)); _ = post()
    >>> post.V.value.to_decimal(u.mV).round(3).tolist()
    [1.0, 2.0]
    """

    __module__ = "brainsim.projections"

    def __init__(self, comm: Any, post: Any, pre: Any = None, delay: Any = None,
                 target: str | None = None, name: str | None = None):
        if target is not None and not hasattr(post, "target"):
            raise TypeError(f"DeltaProj: target={target!r} names a variable of a "
                            f"brainsim.NeuronGroup, but post is a {type(post).__name__}.")
        super().__init__(comm, post if target is None else post.target(target), pre, delay, name)

    def update(self, spike: Any = None) -> None:
        self._bs_post.add_delta_input(self._bs_key, self._input(spike))


class CurrentProj(Projection):
    r"""Presynaptic spikes become a current for one step: :math:`I_j = \mathrm{out}(\sum_i s_i W_{ij})`.

    Parameters
    ----------
    comm, post, pre, delay
        As in :class:`AlignPostProj`.
    out : SynOut or callable, optional
        Applied to the summed input with ``V=None`` (default: identity).

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons, projections
    >>> post = brainsim.init_states(neurons.LIF(1, tau=1. * u.ms, V_th=10. * u.mV))
    >>> p = projections.CurrentProj(jnp.array([[5.]]) * u.mV, post=post)
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     p.update(jnp.ones(1)); _ = post()
    >>> round(float(post.V.value[0].to_decimal(u.mV)), 3)   # 5 (1 - exp(-1))
    3.161
    """

    __module__ = "brainsim.projections"

    def __init__(self, comm: Any, post: Any, out: Any = None, pre: Any = None,
                 delay: Any = None, name: str | None = None):
        super().__init__(comm, post, pre, delay, name)
        self.out = out

    def update(self, spike: Any = None) -> None:
        x = self._input(spike)
        self._bs_post.add_current_input(self._bs_key, x if self.out is None else self.out(x, None))
