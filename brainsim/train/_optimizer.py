"""An optax bridge: update :class:`~brainsim.ParamState` s in place, with checkpointable state."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import brainunit as u
import jax
import jax.numpy as jnp
import optax

from .._module import Module
from .._state import LongTermState, ParamState, State, _is_quantity

__all__ = ["Optimizer"]


def _mantissa(x: Any) -> Any:
    return x.mantissa if isinstance(x, u.Quantity) else x


def _strip(tree: Any) -> Any:
    """Quantities -> their mantissas (optax works on plain arrays)."""
    return jax.tree_util.tree_map(_mantissa, tree, is_leaf=_is_quantity)


def _as_param_dict(params: Any) -> dict[str, State]:
    if isinstance(params, Module):
        found = params.states(ParamState)
        if not found:
            raise ValueError(
                f"Optimizer(params=...) got a {type(params).__name__} without any ParamState. "
                "How to fix: create the trainable weights as brainsim.ParamState (after "
                "brainsim.init_states(model) if the module creates them there)."
            )
        return dict(found)
    if isinstance(params, State):
        return {"0": params}
    if isinstance(params, Mapping):
        items = [(str(k), v) for k, v in params.items()]
    elif isinstance(params, (list, tuple)):
        items = [(str(i), v) for i, v in enumerate(params)]
    else:
        raise TypeError(
            f"Optimizer(params=...) expects a Module, a State, a list/tuple of States or a "
            f"dict of States; got {type(params).__name__}. How to fix: pass "
            "model.states(brainsim.ParamState)."
        )
    for key, s in items:
        if not isinstance(s, State):
            raise TypeError(
                f"Optimizer(params=...) entry {key!r} is a {type(s).__name__}, not a State. "
                "How to fix: pass model.states(brainsim.ParamState)."
            )
    if not items:
        raise ValueError("Optimizer(params=...) got no states to optimise; pass at least one.")
    return dict(items)


class Optimizer(Module):
    r"""Apply an optax ``GradientTransformation`` to :class:`~brainsim.ParamState` s in place.

    The optimizer keeps *references* to the parameter states (they stay owned by
    their model) and holds optax's own state (moments, step counts of schedules)
    in a :class:`~brainsim.LongTermState`, so that
    ``brainsim.save_checkpoint(path, {'model': net, 'opt': opt})`` saves it and
    a resumed run continues exactly. :meth:`update` reads and writes states
    only, so it works eagerly and inside :func:`brainsim.jit`.

    For Adam, for example, each parameter :math:`\theta` with gradient :math:`g`
    at step :math:`k` becomes

    .. math::

        m_k = \beta_1 m_{k-1} + (1 - \beta_1) g, \quad
        v_k = \beta_2 v_{k-1} + (1 - \beta_2) g^2, \quad
        \theta \leftarrow \theta - \eta_k \frac{m_k / (1 - \beta_1^k)}
        {\sqrt{v_k / (1 - \beta_2^k)} + \epsilon}

    Parameters
    ----------
    tx : optax.GradientTransformation
        E.g. ``optax.adam(1e-3)`` or ``optax.adam(optax.cosine_decay_schedule(...))``.
    params : Module, State, list/tuple or dict of States
        What to train. A module contributes all its :class:`~brainsim.ParamState` s
        (call :func:`brainsim.init_states` first if it creates them there).
        Parameters that are brainunit quantities are updated in their own unit.

    Attributes
    ----------
    param_states : dict[str, State]
        The trained states by key (paths for a module, indices for a list).
    opt_state : LongTermState
        optax's state (a pytree of arrays).
    step : LongTermState
        The number of updates applied (int32 scalar).

    Examples
    --------
    >>> import brainsim, optax, jax.numpy as jnp
    >>> from brainsim import train
    >>> w = brainsim.ParamState(jnp.array([1.0, -2.0]))
    >>> opt = train.Optimizer(optax.sgd(0.5), {'w': w})
    >>> grads = brainsim.grad(lambda: jnp.sum(w.value ** 2), grad_states=opt.param_states)()
    >>> opt.update(grads)
    >>> w.value.tolist(), int(opt.step.value)
    ([0.0, 0.0], 1)
    """

    __module__ = "brainsim.train"

    def __init__(self, tx: optax.GradientTransformation,
                 params: Module | State | Sequence[State] | Mapping[str, State],
                 name: str | None = None):
        super().__init__(name=name)
        if not (hasattr(tx, "init") and hasattr(tx, "update")):
            raise TypeError(
                f"Optimizer(tx=...) expects an optax.GradientTransformation (with init and "
                f"update), got {type(tx).__name__}. How to fix: pass e.g. optax.adam(1e-3)."
            )
        # Private attribute: the parameters belong to their model, not to the
        # optimizer, so module discovery (and checkpoints of the optimizer) skips them.
        self._bs_params = _as_param_dict(params)
        self._bs_tx = tx
        self.opt_state = LongTermState(tx.init(self._values()))
        self.step = LongTermState(jnp.zeros((), jnp.int32))

    @property
    def tx(self) -> optax.GradientTransformation:
        """The optax transformation."""
        return self._bs_tx

    @property
    def param_states(self) -> dict[str, State]:
        """The trained states by key; pass to ``brainsim.grad(grad_states=...)``."""
        return dict(self._bs_params)

    def _values(self) -> dict[str, Any]:
        return {k: _strip(s.value) for k, s in self._bs_params.items()}

    def _check_grads(self, grads: Any) -> dict[str, Any]:
        if not isinstance(grads, Mapping):
            raise TypeError(
                f"Optimizer.update(grads) expects a dict keyed like opt.param_states "
                f"({list(self._bs_params)[:4]}...), got {type(grads).__name__}. How to fix: "
                "compute grads with brainsim.grad(..., grad_states=opt.param_states)."
            )
        missing = [k for k in self._bs_params if k not in grads]
        extra = [k for k in grads if k not in self._bs_params]
        if missing or extra:
            raise ValueError(
                f"Optimizer.update(grads): the gradient keys do not match the parameters; "
                f"missing {missing}, unexpected {extra}. How to fix: compute grads with "
                "brainsim.grad(..., grad_states=opt.param_states)."
            )
        return {k: _strip(grads[k]) for k in self._bs_params}

    def update(self, grads: Mapping[str, Any]) -> None:
        """Apply one optimizer step to the parameters, in place.

        Parameters
        ----------
        grads : dict
            One gradient per key of :attr:`param_states`, with each
            parameter's shape (a quantity in the parameter's unit, or a plain
            array of its mantissa).
        """
        g = self._check_grads(grads)
        params = self._values()
        updates, new_opt_state = self._bs_tx.update(g, self.opt_state.value, params)
        new_params = optax.apply_updates(params, updates)
        for k, s in self._bs_params.items():
            old = s.value
            new = new_params[k]
            # keep the parameter's dtype (optax may promote, e.g. with a float64 schedule)
            new = jax.tree_util.tree_map(lambda n, o: n.astype(jnp.result_type(o)), new,
                                         _strip(old))
            if isinstance(old, u.Quantity):
                new = u.Quantity(new, unit=old.unit)
            s.value = new
        self.opt_state.value = new_opt_state
        self.step.value = self.step.value + 1

    def _repr_fields(self) -> dict[str, Any]:
        return {"params": list(self._bs_params)}


def make_train_step(loss_fn: Callable[..., Any], optimizer: Optimizer, has_aux: bool = False,
                    jit: bool = True) -> Callable[..., Any]:
    """Build ``step(*args) -> loss`` (or ``(loss, aux)``): gradient, then optimizer update.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(*args)`` returns a scalar loss (``(loss, aux)`` with
        ``has_aux``) computed from the optimizer's parameter states. It may run
        a whole simulation (e.g. BPTT through :func:`brainsim.for_loop`).
    optimizer : Optimizer
        Supplies the parameters to differentiate and applies the update.
    has_aux : bool
        ``loss_fn`` returns ``(loss, aux)``.
    jit : bool
        Compile the whole step (forward, backward and update) with
        :func:`brainsim.jit`.

    Examples
    --------
    >>> import brainsim, optax, jax.numpy as jnp
    >>> from brainsim import train
    >>> w = brainsim.ParamState(jnp.array(3.0))
    >>> opt = train.Optimizer(optax.sgd(0.25), [w])
    >>> step = train.make_train_step(lambda x: (w.value - x) ** 2, opt)
    >>> float(step(1.0)), float(w.value)
    (4.0, 2.0)
    """
    from ..transforms import jit as _jit
    from ..transforms import value_and_grad

    if not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"make_train_step(optimizer=...) expects a brainsim.train.Optimizer, got "
            f"{type(optimizer).__name__}."
        )
    vg = value_and_grad(loss_fn, grad_states=optimizer.param_states, has_aux=has_aux)

    def step(*args: Any, **kwargs: Any):
        out, grads = vg(*args, **kwargs)
        optimizer.update(grads)
        return out

    return _jit(step) if jit else step
