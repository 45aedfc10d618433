"""Synapses: per-synapse variables and plasticity written as Brian strings."""
from __future__ import annotations

from typing import Any

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import sympy

from .. import environ
from .._dynamics import DynamicsModule
from .._state import HiddenState, ParamState, ShortTermState, State
from ..equations._codegen import compile_exprs, free_names
from ..equations._model import SPECIAL_DIMS, CompiledModel
from ..equations._namespace import resolve, to_si
from ..equations._parse import parse_statements
from ..equations._units import DimensionError, dim_of, dim_str, suggest
from ..projections._delay import Delay, check_dt_unchanged, delay_steps
from ._neuron_group import _as_unit, _now

__all__ = ["Synapses"]


def _structure(conn: Any, n_pre: int, n_post: int) -> tuple[np.ndarray, np.ndarray]:
    """``(pre, post)`` index of every synapse, in row-major (CSR) order."""
    from ..event import CSR
    if type(conn) is CSR:
        indptr = np.asarray(conn.indptr)
        rows = np.repeat(np.arange(conn.shape[0]), np.diff(indptr))
        cols = np.asarray(conn.indices)
    else:
        dense = conn.todense() if hasattr(conn, "todense") else conn
        rows, cols = np.nonzero(np.asarray(u.get_mantissa(dense)))
    shape = tuple(getattr(conn, "shape", ()))
    if shape != (n_pre, n_post):
        raise ValueError(f"Synapses: conn has shape {shape} but pre x post is "
                         f"({n_pre}, {n_post}). How to fix: build the connectivity with "
                         "n_pre = size of pre and n_post = size of post.")
    return rows.astype(np.int32), cols.astype(np.int32)


def _population_var(pop: Any, name: str) -> State | None:
    st = getattr(pop, name, None)
    return st if isinstance(st, State) else None


def _gather(pop: Any, name: str, idx: Any) -> Any:
    """SI values of the population's variable ``name`` at local indices ``idx``.

    Reads the parent's state directly (a subgroup's view is not made inside a trace).
    """
    parent = getattr(pop, "parent", pop)
    return to_si(getattr(parent, name).value)[..., getattr(pop, "start", 0) + idx]


def _var_dim(pop: Any, name: str) -> Any:
    """The dimension of the population's variable ``name`` (None if it has none)."""
    group = getattr(pop, "parent", pop)
    cm = getattr(group, "_bs_model", None)
    if cm is not None:          # a NeuronGroup knows its units before its states exist
        return cm.units[name].dim if name in cm.units else None
    st = _population_var(pop, name)
    return u.get_dim(st.value) if st is not None else None


class _PerSynapseDelay(DynamicsModule):
    """The presynaptic spike of every synapse, each ``delays[k]`` late (a spike history)."""

    def __init__(self, n_pre: int, rows: Any, delays: Any):
        super().__init__(n_pre)
        self.rows, self.delays = rows, delays

    def init_state(self, batch_size: int | None = None) -> None:
        d = delay_steps(self.delays, "Synapses: delay")
        self.d = jnp.asarray(d, jnp.int32)
        self.L = int(d.max()) + 1 if d.size else 1
        object.__setattr__(self, "_bs_dt", environ.get_dt() if self.L > 1 else None)
        self.history = ShortTermState(jnp.zeros((self.L, *self.batched_shape(batch_size)),
                                                jnp.float32))
        self.pointer = ShortTermState(jnp.zeros((), jnp.int32))

    def update(self, spike: Any) -> jax.Array:
        check_dt_unchanged(self, self._bs_dt, lambda: f"the spike history ({self.L} steps)")
        p = self.pointer.value
        hist = jax.lax.dynamic_update_index_in_dim(self.history.value,
                                                   jnp.asarray(spike, jnp.float32), p, axis=0)
        self.history.value = hist
        self.pointer.value = (p + 1) % self.L
        return hist[(p - self.d) % self.L, self.rows]


class Synapses(DynamicsModule):
    r"""Synapses with their own variables and event statements, as Brian's ``Synapses``.

    .. code-block:: python

        S = brainsim.Synapses(inp, group, conn,
                              model='''w : 1
                                       dapre/dt = -apre / taupre : 1 (event-driven)
                                       dapost/dt = -apost / taupost : 1 (event-driven)''',
                              on_pre='''ge += w
                                        apre += Apre
                                        w = clip(w + apost, 0, wmax)''',
                              on_post='''apost += Apost
                                         w = clip(w + apre, 0, wmax)''',
                              namespace=dict(taupre=..., Apre=..., wmax=...))

    Every synapse of ``conn`` (the nonzero entries of a dense matrix, or of
    any :mod:`brainsim.event` format) gets its own copy of each model
    variable. Each step (call it before the post population): the
    differential equations are integrated for all synapses (``event-driven``
    equations too, which gives the same values at the events when, as for
    exponential traces, the method is exact); then ``on_pre`` runs for the
    synapses whose presynaptic neuron spiked (after ``delay``), then
    ``on_post`` for those whose postsynaptic neuron spiked on the previous
    step. Statements run in order. A statement ``x += expr`` on a variable of
    ``post`` (``x`` or ``x_post``) sums ``expr`` over the active synapses
    into a jump of ``x``; ``y_pre`` / ``y_post`` read the neurons' variables.
    Updates are written ``x + (new - x) * spike``, so surrogate gradients
    flow through them.

    Parameters
    ----------
    pre, post : population (neuron, NeuronGroup or subgroup)
    conn : array ``(n_pre, n_post)`` or brainsim.event matrix
        Which synapses exist (the values are not used; set ``S.w = ...``).
    model : str
        Synaptic variables: parameters ``w : 1`` and differential equations.
    on_pre, on_post : str, optional
        Statements separated by ``;`` or new lines.
    delay : Quantity (time), optional
        The delay of the presynaptic spikes: one for all synapses (a
        scalar), or one per synapse (shape ``[n_syn]``, in the order of
        ``S.rows`` / ``S.cols``: row-major, as ``np.nonzero`` of the dense
        matrix). Multiples of ``dt``.
    dt : Quantity (time), optional
        Its own time step (see :class:`brainsim.DynamicsModule`): the pre-
        and postsynaptic spikes of the steps in between are counted, and at
        its update ``on_pre`` / ``on_post`` run once per spike.
    method : str
        Integration method of the synaptic equations (default ``'exact'``).
    namespace : dict, optional

    States
    ------
    every parameter : ParamState ``[n_syn]``; every differential variable : HiddenState
    ``[n_syn]``, each in its declared unit.

    Examples
    --------
    >>> import brainsim, brainunit as u, jax.numpy as jnp
    >>> from brainsim import neurons
    >>> pre = neurons.SpikeTimeGenerator(2, indices=[0], times=[0.] * u.ms)
    >>> post = brainsim.NeuronGroup(2, 'dge/dt = -ge / (5*ms) : 1')
    >>> S = brainsim.Synapses(pre, post, jnp.ones((2, 2)), model='w : 1', on_pre='ge += w')
    >>> S.w = jnp.array([1., 2., 3., 4.])
    >>> for m in (pre, post, S):
    ...     _ = brainsim.init_states(m)
    >>> with brainsim.environ.context(dt=0.1 * u.ms):
    ...     _ = pre()
    ...     S()
    ...     _ = post()
    >>> post.ge.value.tolist()
    [1.0, 2.0]
    """

    __module__ = "brainsim"

    def __init__(self, pre: Any, post: Any, conn: Any, model: str = "", on_pre: str | None = None,
                 on_post: str | None = None, delay: Any = None, method: str = "exact",
                 namespace: dict | None = None, name: str | None = None):
        for nm, pop in (("pre", pre), ("post", post)):
            if not (hasattr(pop, "get_spike") and hasattr(pop, "varshape")):
                raise TypeError(f"Synapses: {nm} must be a population with spikes (a neuron, "
                                f"NeuronGroup or subgroup), got {type(pop).__name__}.")
        n_pre, n_post = int(np.prod(pre.varshape)), int(np.prod(post.varshape))
        rows, cols = _structure(conn, n_pre, n_post)
        super().__init__(rows.shape[0], name=name)
        object.__setattr__(self, "_bs_pre", pre)
        object.__setattr__(self, "_bs_post", post)
        self.rows, self.cols = jnp.asarray(rows), jnp.asarray(cols)
        self.n_post = n_post
        if delay is not None and np.ndim(u.get_mantissa(delay)) == 1:
            if np.shape(u.get_mantissa(delay)) != rows.shape:
                raise ValueError(f"Synapses: a per-synapse delay must have shape "
                                 f"({rows.shape[0]},), one per synapse, got shape "
                                 f"{np.shape(u.get_mantissa(delay))}. How to fix: give one "
                                 "delay (a scalar) or one per synapse in the order of S.rows.")
            self.delay = _PerSynapseDelay(n_pre, jnp.asarray(rows), delay)
        else:
            self.delay = Delay(n_pre, delay) if delay is not None else None
        cm = CompiledModel(model if model.strip() else "_unused : 1", None, None, None, method,
                           namespace)
        object.__setattr__(self, "_bs_model", cm)
        eqs = cm.equations
        self._bs_vars = [e.name for e in eqs.of_kind("diff")]
        self._bs_params = [e.name for e in eqs.of_kind("param") if e.name != "_unused"]
        self._bs_init: dict = {}
        for p in self._bs_params:
            setattr(self, p, ParamState(_as_unit(jnp.zeros(self.varshape, jnp.float32),
                                                 cm.units[p])))
        own = {n: cm.units[n].dim for n in self._bs_vars + self._bs_params}
        self._bs_on_pre = self._compile("on_pre", on_pre, own, namespace)
        self._bs_on_post = self._compile("on_post", on_post, own, namespace)
        self._bs_key = f"Synapses{id(self)}"

    # -- statements --------------------------------------------------------------
    def _neuron_dims(self, name: str) -> tuple[Any, Any, str] | None:
        """``(population, dimension, variable)`` for ``x_pre`` / ``x_post`` / post's ``x``."""
        for suffix, pop in (("_pre", self._bs_pre), ("_post", self._bs_post)):
            if name.endswith(suffix):
                d = _var_dim(pop, name[: -len(suffix)])
                if d is not None:
                    return pop, d, name[: -len(suffix)]
        d = _var_dim(self._bs_post, name)
        return (self._bs_post, d, name) if d is not None else None

    def _compile(self, which: str, text: str | None, own: dict, namespace: dict | None) -> list:
        if text is None:
            return []
        stmts = parse_statements(text)
        dims, reads = dict(own) | dict(SPECIAL_DIMS), {}
        names = set().union(*[free_names(v) for _, v in stmts]) | {n for n, _ in stmts}
        for n in sorted(names - set(dims)):
            found = self._neuron_dims(n)
            if found is not None:
                dims[n] = found[1]
                reads[n] = found
        res = resolve(names, dims, namespace, lambda n: f"{which} '{text}'")
        out = []
        for target, value in stmts:
            ctx = f"Inconsistent units in {which} statement for {target!r} ('{text}')"
            if target in own:
                got = dim_of(value, res.dims, res.func_dims, ctx)
                if got != own[target] and value != 0:
                    raise DimensionError(f"{ctx}: the value has {dim_str(got)}, but {target!r} "
                                         f"has {dim_str(own[target])}.")
                out.append(("syn", target, compile_exprs([value], res.functions)))
                continue
            hit = reads.get(target)
            if hit is None or hit[0] is not self._bs_post or which != "on_pre":
                raise ValueError(
                    f"Synapses: {which} assigns to {target!r}, which is neither a synaptic "
                    f"variable ({sorted(own)}) nor, in on_pre, a variable of post."
                    f"{suggest(target, list(own))}")
            sym = sympy.Symbol(target, real=True)
            inc = sympy.expand(value - sym)
            if sym in inc.free_symbols:
                raise ValueError(f"Synapses: {which} may only add to the post variable "
                                 f"{target!r} ('{target} += expr'), got '{target} = {value}'.")
            got = dim_of(inc, res.dims, res.func_dims, ctx)
            if got != hit[1] and inc != 0:
                raise DimensionError(f"{ctx}: the increment has {dim_str(got)}, but {target!r} "
                                     f"has {dim_str(hit[1])}.")
            out.append(("post", hit[2], compile_exprs([inc], res.functions)))
        object.__setattr__(self, f"_bs_reads_{which}", reads)
        object.__setattr__(self, f"_bs_consts_{which}", res.consts)
        return out

    # -- variables -------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        cm = self.__dict__.get("_bs_model")
        if cm is not None and name in cm.units and not isinstance(value, State):
            unit = cm.units[name]
            if u.get_dim(value) != unit.dim:
                raise ValueError(f"Synapses: {name} has unit {unit}, got {value!r}.")
            value = _as_unit(jnp.broadcast_to(jnp.asarray(to_si(value, unit.dim), jnp.float32),
                                              self.varshape), unit)
            st = self.__dict__.get(name)
            if name in self._bs_params:
                st.value = value
            else:
                self._bs_init[name] = value
                if st is not None:
                    st.value = value
            return
        super().__setattr__(name, value)

    def init_state(self, batch_size: int | None = None) -> None:
        if batch_size is not None:
            raise ValueError("Synapses: batched states are not supported; use batch_size=None.")
        for v in self._bs_vars:
            init = self._bs_init.get(v)
            setattr(self, v, HiddenState(init if init is not None else _as_unit(
                jnp.zeros(self.varshape, jnp.float32), self._bs_model.units[v])))

    # -- own clock (dt=): count the spikes of both sides between two updates -------------
    def _bs_init_clock(self, batch_size: int | None) -> None:
        if self.dt is None:
            return
        n_pre = int(np.prod(self._bs_pre.varshape))
        self.clock_spikes = {"pre": HiddenState(jnp.zeros((n_pre,), jnp.float32)),
                             "post": HiddenState(jnp.zeros((self.n_post,), jnp.float32))}

    def _bs_collect(self, active: Any, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        from .._clock import _network_dt
        counts = []
        for side, pop in (("pre", self._bs_pre), ("post", self._bs_post)):
            st = self.clock_spikes[side]
            total = st.value + jnp.asarray(pop.get_spike(), jnp.float32)
            st.value = jnp.where(active, jnp.zeros_like(total), total)
            counts.append(total)
        with jax.ensure_compile_time_eval():
            k = int(round(float(self.dt / _network_dt())))
        object.__setattr__(self, "_bs_counted", (counts[0], counts[1], k))
        return args, kwargs

    def _bs_after_update(self) -> None:
        object.__setattr__(self, "_bs_counted", None)

    # -- one step ------------------------------------------------------------------------
    def _run(self, which: str, stmts: list, vals: dict, spike: Any, deltas: dict) -> None:
        for n, (pop, _, var) in getattr(self, f"_bs_reads_{which}").items():
            vals[n] = _gather(pop, var, self.rows if pop is self._bs_pre else self.cols)
        vals.update(getattr(self, f"_bs_consts_{which}"))
        for kind, target, fn in stmts:
            new = fn(vals)[0]
            if kind == "syn":
                vals[target] = vals[target] + (new - vals[target]) * spike
            else:
                inc = jax.ops.segment_sum(jnp.broadcast_to(new * spike, spike.shape), self.cols,
                                          num_segments=self.n_post)
                deltas[target] = deltas.get(target, 0.) + inc

    def update(self) -> None:
        """Advance the synaptic variables one step and deliver this step's events."""
        cm = self._bs_model
        vals = dict(cm.resolved.consts)
        for n in self._bs_vars + self._bs_params:
            vals[n] = to_si(getattr(self, n).value, cm.units[n].dim)
        vals["t"] = to_si(_now(), u.second.dim)
        vals["dt"] = to_si(environ.get_dt(), u.second.dim)
        vals.update(cm.step(vals, vals["dt"]) if self._bs_vars else {})
        counted = self.__dict__.get("_bs_counted")     # spike counts, on a slow clock
        s_pre = self._bs_pre.get_spike() if counted is None else counted[0]
        if isinstance(self.delay, _PerSynapseDelay):
            s_syn = self.delay(s_pre)
        else:
            s_syn = jnp.asarray(s_pre if self.delay is None else self.delay(s_pre))[..., self.rows]
        deltas: dict = {}
        reps = 1 if counted is None else counted[2]     # at most one spike per network step
        for r in range(reps):
            one = s_syn if counted is None else (s_syn > r).astype(jnp.float32)
            if self._bs_on_pre:
                self._run("on_pre", self._bs_on_pre, vals, one, deltas)
        if self._bs_on_post:
            s_post = jnp.asarray(self._bs_post.get_spike() if counted is None
                                 else counted[1])[..., self.cols]
            for r in range(reps):
                one = s_post if counted is None else (s_post > r).astype(jnp.float32)
                self._run("on_post", self._bs_on_post, vals, one, deltas)
        for n in self._bs_vars + self._bs_params:
            getattr(self, n).value = _as_unit(jnp.asarray(vals[n], jnp.float32), cm.units[n])
        post = self._bs_post
        for var, inc in deltas.items():
            dest = post.target(var) if hasattr(post, "target") else post
            ref = getattr(getattr(post, "parent", post), var).value
            dest.add_delta_input(self._bs_key + var, _as_unit(inc, u.get_unit(ref))
                                 if isinstance(ref, u.Quantity) else inc)
