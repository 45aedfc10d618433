"""Online training through time (OTTT, Xiao et al. 2022): presynaptic traces, one gradient per step."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

import brainunit as u
import jax
import jax.numpy as jnp

from .. import environ
from .._dynamics import DynamicsModule
from .._module import Module
from .._state import HiddenState
from ._optimizer import Optimizer

__all__ = ["OTTT", "OTTTLayer"]

# Depth of OTTT training steps being traced: inside one, OTTTLayer routes its weight gradient
# through the presynaptic trace; outside (evaluation, BPTT) it is its layer.
_ACTIVE: list[int] = [0]


@contextlib.contextmanager
def _training() -> Iterator[None]:
    _ACTIVE[0] += 1
    try:
        yield
    finally:
        _ACTIVE[0] -= 1


def _check_decay(decay: Any) -> Any:
    if isinstance(decay, u.Quantity):
        if not decay.unit.has_same_dim(u.second) or not bool(jnp.all(decay.mantissa > 0)):
            raise ValueError(f"OTTTLayer: decay given as a Quantity must be a positive time "
                             f"constant tau (the trace decays by exp(-dt/tau) per step), got "
                             f"{decay}. Example: decay=2. * u.ms.")
        return decay
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not 0 <= decay <= 1:
        raise ValueError(f"OTTTLayer: decay must be a float in [0, 1] (the trace's factor per "
                         f"step, the postsynaptic membrane's leak) or a time constant tau, got "
                         f"{decay!r}. Example: decay=0.5, or decay=tau of the next LIF layer.")
    return float(decay)


class OTTTLayer(DynamicsModule):
    r"""A connection layer whose weight gradient is taken through a presynaptic trace (OTTT).

    Wraps a layer that is linear in its input (``Linear``, ``Conv2d``, their weight-standardised
    and event variants) and keeps the trace of its input spikes ``s``,

    .. math:: \hat a[t] = \lambda\, \hat a[t-1] + s[t],

    with :math:`\lambda` the leak per step of the membrane the layer feeds. The forward value is
    the layer's, ``layer(s[t])``. Inside an :class:`OTTT` training step the gradient is that of
    ``layer(â[t])`` for the weights and of ``layer(s[t])`` for the input, which turns the
    instantaneous gradient :math:`\delta[t] = \partial L[t] / \partial u[t]` into the online
    update :math:`\Delta W \propto \hat a[t]\, \delta[t]^\top` of Xiao et al. (2022): for a
    membrane :math:`u[t] = \lambda u[t-1] + W s[t]` with a detached reset,
    :math:`\partial u[t] / \partial W = \hat a[t]` exactly. Outside an OTTT step (evaluation,
    BPTT) the layer is used as it is; the trace is kept up to date in both cases.

    Parameters
    ----------
    layer : Module
        The wrapped layer, called as ``layer(x)``; it must be linear in ``x`` (a bias is fine).
    in_shape : int or tuple of int
        The shape of one sample's input, e.g. ``(H, W, C)`` for a convolution.
    decay : float in [0, 1] or Quantity (time)
        :math:`\lambda`, or the time constant :math:`\tau` of an exponential-Euler membrane,
        for which :math:`\lambda = e^{-dt/\tau}` at the current ``dt``.

    States
    ------
    trace : HiddenState, shape ``[*batch, *in_shape]``

    Notes
    -----
    In a training step the layer is evaluated twice (on ``s`` and on ``â``), as in the BrainPy
    paper's script; the activations of one step only are kept, so memory does not grow with
    the number of steps.

    Examples
    --------
    >>> import jax.numpy as jnp, brainsim
    >>> from brainsim import layers, train
    >>> syn = brainsim.init_states(train.OTTTLayer(layers.Linear(2, 1, weight=jnp.ones((2, 1))),
    ...                                            in_shape=2, decay=0.5))
    >>> _ = syn(jnp.array([1., 0.])); y = syn(jnp.array([0., 1.]))
    >>> y.tolist(), syn.trace.value.tolist()      # value of layer(s); trace 0.5 * s0 + s1
    ([1.0], [0.5, 1.0])
    """

    __module__ = "brainsim.train"

    def __init__(self, layer: Any, in_shape: Any, decay: Any, name: str | None = None):
        if not callable(layer):
            raise TypeError(f"OTTTLayer: layer must be a callable layer such as "
                            f"brainsim.layers.Conv2d, got {type(layer).__name__}.")
        super().__init__(in_shape, name=name)
        self.layer = layer
        self.decay = _check_decay(decay)

    def init_state(self, batch_size: int | None = None) -> None:
        self.trace = HiddenState(jnp.zeros(self.batched_shape(batch_size)))

    def factor(self) -> Any:
        """The trace's factor per step, :math:`\\lambda`."""
        if isinstance(self.decay, u.Quantity):
            return jnp.exp(-u.maybe_decimal(environ.get_dt() / self.decay))
        return self.decay

    def update(self, x: Any) -> Any:
        s = jnp.asarray(x, self.trace.value.dtype) if not isinstance(x, u.Quantity) else x
        if jnp.shape(s) != jnp.shape(self.trace.value):
            raise ValueError(f"OTTTLayer: input has shape {jnp.shape(s)}, but the trace has "
                             f"shape {jnp.shape(self.trace.value)} = (batch, *in_shape) with "
                             f"in_shape={self.in_size}. How to fix: give in_shape the shape of one "
                             f"sample and call brainsim.init_states(model, batch_size).")
        trace = jax.lax.stop_gradient(self.factor() * self.trace.value + s)
        self.trace.value = trace
        y = self.layer(s)
        if not _ACTIVE[0]:
            return y
        # value: the trace; gradient with respect to the input: to s
        x_grad = trace + (s - jax.lax.stop_gradient(s))
        y_grad = self.layer(x_grad)
        return jax.lax.stop_gradient(y) + (y_grad - jax.lax.stop_gradient(y_grad))


class OTTT(Module):
    r"""Online training through time: one gradient per time step, no graph over time.

    At every step :math:`t = 0, \dots, T-1` the trainer runs ``step_fn(x[t])`` and takes the
    gradient of the instantaneous loss :math:`L[t]` = ``loss_fn(out[t], target)`` with respect
    to the optimizer's parameters. The states carried from step to step (membranes, traces)
    enter each gradient as constants, so nothing of step :math:`t` is kept for the backward
    pass of a later step: memory is that of one step, whatever :math:`T`. Temporal credit
    comes from the presynaptic traces of the :class:`OTTTLayer` s in the network (Xiao et al.,
    2022, "Online Training Through Time for Spiking Neural Networks", OTTT\ :sub:`A`):

    .. math:: \Delta W^l \propto \sum_t \hat a^{l-1}[t]\, \delta^l[t]^\top ,
              \qquad \hat a^{l-1}[t] = \lambda \hat a^{l-1}[t-1] + s^{l-1}[t]

    With ``online_update=False`` the per-step gradients are summed and applied once after the
    last step (the gradient of :math:`\sum_t L[t]`); with ``online_update=True`` the optimizer
    steps after every time step (the BrainPy paper's ``online_update`` option). For a single
    layer with a detached reset, or for :math:`T = 1`, the summed gradient equals BPTT's.

    Parameters
    ----------
    step_fn : callable
        ``step_fn(x_t) -> out_t``: advances the network one step (reading and writing its
        states) and returns its output, e.g. logits ``(B, C)``.
    loss_fn : callable
        ``loss_fn(out_t, target) -> scalar``, the instantaneous loss (divide by :math:`T`
        inside for a mean over time).
    optimizer : Optimizer
        Its parameter states are trained.
    online_update : bool, default False
        Update the parameters after every step instead of once per call.
    jit : bool, default True
        Compile the whole call (all steps) with :func:`brainsim.jit`.

    Examples
    --------
    >>> import jax.numpy as jnp, optax, brainsim, brainunit as u
    >>> from brainsim import layers, neurons, train
    >>> class Net(brainsim.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = layers.Linear(4, 8)
    ...         self.lif = neurons.LIF(8, tau=2. * u.ms, V_th=0.5, V_reset=0., V_rest=0.,
    ...                               spk_reset='soft')
    ...         self.fc2 = train.OTTTLayer(layers.Linear(8, 2), in_shape=8, decay=2. * u.ms)
    ...     def __call__(self, x):
    ...         return self.fc2(self.lif(self.fc1(x)))
    >>> with brainsim.environ.context(dt=1. * u.ms):
    ...     net = brainsim.init_states(Net(), batch_size=3)
    ...     opt = train.Optimizer(optax.sgd(0.1), net.states(brainsim.ParamState))
    ...     trainer = train.OTTT(net, lambda out, y: train.cross_entropy(out, y), opt)
    ...     loss, out_sum = trainer(jnp.ones((3, 4)), jnp.array([0, 1, 0]), n_steps=5)
    >>> out_sum.shape, int(opt.step.value)
    ((3, 2), 1)
    """

    __module__ = "brainsim.train"

    def __init__(self, step_fn: Callable[[Any], Any], loss_fn: Callable[[Any, Any], Any],
                 optimizer: Optimizer, online_update: bool = False, jit: bool = True,
                 name: str | None = None):
        super().__init__(name=name)
        for arg, f in (("step_fn", step_fn), ("loss_fn", loss_fn)):
            if not callable(f):
                raise TypeError(f"OTTT: {arg} must be callable, got {type(f).__name__}.")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OTTT: optimizer must be a brainsim.train.Optimizer, got "
                            f"{type(optimizer).__name__}. How to fix: "
                            f"train.Optimizer(optax.adam(1e-3), net.states(brainsim.ParamState)).")
        # private: the network and optimizer belong to the caller (not part of this module)
        self._bs_step, self._bs_loss, self._bs_opt = step_fn, loss_fn, optimizer
        self.online_update = bool(online_update)
        from ..transforms import jit as _jit
        self._bs_run = _jit(self._run, static_argnums=(2,)) if jit else self._run

    def _run(self, inputs: Any, target: Any, n_steps: int | None) -> tuple[Any, Any]:
        from ..transforms import fori_loop, value_and_grad

        opt, online = self._bs_opt, self.online_update
        if n_steps is None:
            leaves = jax.tree_util.tree_leaves(inputs)
            if not leaves or jnp.ndim(leaves[0]) == 0:
                raise ValueError("OTTT: without n_steps, inputs must have a leading time axis "
                                 "(T, ...); for the same input at every step pass n_steps=T.")
            T = int(jnp.shape(leaves[0])[0])
        else:
            if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 1:
                raise ValueError(f"OTTT: n_steps must be a positive int, got {n_steps!r}.")
            T = n_steps

        def at(i: Any) -> Any:
            if n_steps is not None:
                return inputs
            return jax.tree_util.tree_map(lambda a: a[i], inputs)

        def inst(x_t: Any) -> tuple[Any, Any]:
            out = self._bs_step(x_t)
            return self._bs_loss(out, target), out

        vg = value_and_grad(inst, grad_states=opt.param_states, has_aux=True)

        def one(i: Any) -> tuple[Any, Any, Any]:
            (loss, out), g = vg(at(i))
            if online:
                opt.update(g)
            return g, loss, out

        with _training():
            g0, loss, out = one(0)

            def body(i: Any, carry: Any) -> Any:
                g_sum, l_sum, o_sum = carry
                g, l_t, o_t = one(i)
                if not online:
                    g_sum = jax.tree_util.tree_map(jnp.add, g_sum, g,
                                                   is_leaf=lambda v: isinstance(v, u.Quantity))
                return g_sum, l_sum + l_t, o_sum + o_t

            g_sum = g0
            if T > 1:
                g_sum, loss, out = fori_loop(1, T, body, (g0, loss, out))
        if not online:
            opt.update(g_sum)
        return loss, out

    def __call__(self, inputs: Any, target: Any, n_steps: int | None = None) -> tuple[Any, Any]:
        """Train on one batch; returns ``(sum_t L[t], sum_t out[t])``.

        Parameters
        ----------
        inputs : array or pytree
            ``(T, ...)`` per-step inputs, or (with ``n_steps``) one input given at every step.
        target : any
            Passed to ``loss_fn`` unchanged (e.g. int labels ``(B,)``).
        n_steps : int, optional
            The number of steps :math:`T` when ``inputs`` has no time axis.

        The network's states are not reset here: call :func:`brainsim.reset_states` first.
        """
        return self._bs_run(inputs, target, n_steps)

    def lower(self, inputs: Any, target: Any, n_steps: int | None = None) -> Any:
        """JAX's ``Lowered`` of one call (``jit=True`` only), e.g. for
        ``.compile().memory_analysis()``; nothing runs and no state changes."""
        if not hasattr(self._bs_run, "lower"):
            raise TypeError("OTTT.lower needs the compiled trainer; create it with jit=True.")
        return self._bs_run.lower(inputs, target, n_steps)
