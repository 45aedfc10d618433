"""Just-in-time connectivity: matrices regenerated from a seed inside every product.

Row ``i`` of an R-layout matrix of shape ``(m, n)`` draws its column indices by geometric skipping,

.. math:: c_0 = g_0 - 1,\\quad c_{t} = c_{t-1} + g_t,\\qquad g_t \\sim \\mathrm{Geometric}(p),

from a counter-based hash of ``(seed, stream, i, t)`` (``_jitc_draw``: integer arithmetic and
single IEEE float32 operations, so the pure-JAX path and the compiled CPU kernel draw the same
matrix bit for bit), so each entry is present independently with probability ``p`` and the
expected row length is ``p n``. At most ``L = ceil(pn + 10 sqrt(pn(1-p)) + 20)`` slots are drawn
per row; a longer row has probability below 1e-20 and would simply be cut, identically in every
product and in ``todense``, so all views of one object always agree. Weights for slot ``t`` come
from further streams of the same counter. A C-layout matrix of shape (m, n) is the transpose of
the R-layout (n, m) matrix with the same parameters, generated column by column. Memory is
O(m + n); nothing of size m x n is stored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from .._checks import check_finite, check_matrix_shape
from ._base import SparseMatrix, check_seed
from ._jitc_draw import cols_of, gap_scale, gaps_of, row_key, slot_hash, slot_uniform
from ._units import is_traced, split_unit, wrap_unit

__all__ = ["JITCScalarR", "JITCScalarC", "JITCNormalR", "JITCNormalC", "JITCUniformR", "JITCUniformC",
           "max_per_row"]


def max_per_row(prob: float, n: int) -> int:
    """Static number of slots drawn per row (see module docstring)."""
    if prob <= 0 or n == 0:
        return 0
    if prob >= 1:
        return n
    mean = prob * n
    return int(min(n, math.ceil(mean + 10.0 * math.sqrt(mean * (1 - prob)) + 20)))


@dataclass(frozen=True)
class _JITCSpec:
    p: int
    q: int
    L: int
    prob: float
    kind: str  # 'scalar' | 'normal' | 'uniform'

    def gen(self, theta, struct, rows):
        (seed,) = struct
        L, q = self.L, self.q
        dtype = jnp.result_type(*theta)
        if L == 0:
            z = jnp.zeros((rows.shape[0], 0), jnp.int32)
            return z, jnp.zeros(z.shape, dtype), jnp.zeros(z.shape, bool)
        gaps = gaps_of(slot_hash(row_key(seed, 0, rows), L), self.prob, q)
        cols, mask = cols_of(gaps, q)
        if self.kind == "scalar":
            (w,) = theta
            vals = jnp.broadcast_to(w, cols.shape)
        elif self.kind == "normal":
            loc, scale = theta
            u1 = slot_uniform(row_key(seed, 1, rows), L)
            u2 = slot_uniform(row_key(seed, 2, rows), L)
            z = (jnp.sqrt(-2.0 * jnp.log(u1)) * jnp.cos(np.float32(2.0 * math.pi) * u2)).astype(dtype)
            vals = loc + scale * z
        else:
            low, high = theta
            v = (1.0 - slot_uniform(row_key(seed, 1, rows), L)).astype(dtype)
            vals = low + (high - low) * v
        return cols, vals, mask

    def kernel_jitc(self, theta, struct):
        """``(kind code, float32 parameters (2,), seed (1,), gap scale)`` for the compiled kernel."""
        if any(jnp.result_type(t) != jnp.float32 for t in theta):
            return None
        (seed,) = struct
        params = jnp.stack([jnp.asarray(t, jnp.float32) for t in theta] + [jnp.float32(0)] * (2 - len(theta)))
        return _KINDS[self.kind], params, jnp.reshape(seed, (1,)).astype(jnp.uint32), gap_scale(self.prob)


_KINDS = {"scalar": 0, "normal": 1, "uniform": 2}


class _JITCBase(SparseMatrix):
    _kind = "scalar"
    _nparams = 1
    _transposed = False

    def __init__(self, data, *, shape):
        name = type(self).__name__
        if len(data) != self._nparams + 2:
            raise ValueError(f"{name}: data must have {self._nparams + 2} entries "
                             f"(weights..., prob, seed), got {len(data)}")
        *params, prob, seed = data
        self.shape = check_matrix_shape(name, shape)
        for i, x in enumerate(params):
            check_finite(name, **{f"data[{i}]": x})
        if is_traced(prob):
            raise TypeError(f"{name}: prob must be a Python float (it fixes array sizes), got a traced value")
        prob = float(prob)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"{name}: prob must be in [0, 1], got {prob}")
        self.prob = prob
        self.seed = check_seed(seed)
        mantissas, units = zip(*[split_unit(x) for x in params])
        if any(un != units[0] for un in units):
            raise ValueError(f"{name}: weight parameters must share one unit, got {[str(x) for x in units]}")
        self.unit = units[0]
        ms = []
        for x in mantissas:
            x = x if is_traced(x) else jnp.asarray(x)
            if jnp.ndim(x) != 0:
                raise ValueError(f"{name}: weight parameters must be scalars, got shape {jnp.shape(x)}")
            ms.append(x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32))
        self.params = tuple(ms)

    def _rowshape(self):
        return self.shape[::-1] if self._transposed else self.shape

    def tree_flatten(self):
        return (self.params, self.seed), (self.shape, self.prob, self.unit)

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        obj.params, obj.seed = children
        obj.shape, obj.prob, obj.unit = aux
        return obj

    def _op(self):
        p, q = self._rowshape()
        spec = _JITCSpec(p, q, max_per_row(self.prob, q), self.prob, self._kind)
        return spec, self.params, (self.seed,), self._transposed, self.unit

    @property
    def T(self):
        """Transpose: R (m, n) <-> C (n, m) with the same parameters and seed."""
        other = _PAIR[type(self)]
        return other.tree_unflatten((self.shape[::-1], self.prob, self.unit), (self.params, self.seed))

    def with_data(self, *params):
        """Same connectivity (prob, seed), new weight parameters."""
        obj = self.tree_unflatten((self.shape, self.prob, self.unit), (self.params, self.seed))
        if len(params) != self._nparams:
            raise ValueError(f"with_data expects {self._nparams} weight parameter(s), got {len(params)}")
        for i, x in enumerate(params):
            check_finite(type(self).__name__, **{f"params[{i}]": x})
        ms, units = zip(*[split_unit(x) for x in params])
        obj.params = tuple(jnp.asarray(x) for x in ms)
        obj.unit = units[0]
        return obj

    @property
    def nse(self) -> int:
        """Number of generated connections (computed by generating the structure)."""
        spec, theta, struct, _, _ = self._op()
        _, _, mask = spec.gen(theta, struct, jnp.arange(spec.p, dtype=jnp.int32))
        return int(jnp.sum(mask))

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape}, prob={self.prob})"


def _make(name, kind, nparams, transposed, doc):
    cls = type(name, (_JITCBase,), {"_kind": kind, "_nparams": nparams, "_transposed": transposed,
                                    "__doc__": doc, "__module__": "brainsim.event"})
    return jax.tree_util.register_pytree_node_class(cls)


_EX = """
    Examples
    --------
    >>> import numpy as np, brainsim.event as ev
    >>> M = ev.{name}({args}, shape=(50, 40))
    >>> s = np.zeros(50, np.float32); s[[3, 7]] = 1
    >>> bool(np.allclose(s @ M, s @ np.asarray(M.todense()), atol=1e-5))
    True
"""
_DOC = {
    "scalar": ("Homogeneous weight ``w``. Data ``(weight, prob, seed)``.", "(0.5, 0.1, 0)"),
    "normal": ("Weights ``w_loc + w_scale * N(0, 1)``. Data ``(w_loc, w_scale, prob, seed)``.", "(0.5, 0.1, 0.1, 0)"),
    "uniform": ("Weights ``U(w_low, w_high)``. Data ``(w_low, w_high, prob, seed)``.", "(0.1, 0.5, 0.1, 0)"),
}
_PAIR = {}
for _kind, _np_ in (("scalar", 1), ("normal", 2), ("uniform", 2)):
    for _lay, _tr in (("R", False), ("C", True)):
        _nm = f"JITC{_kind.capitalize()}{_lay}"
        _d, _a = _DOC[_kind]
        _layout = ("generated row by row: ``spikes @ M`` is event-driven" if not _tr else
                   "generated column by column: ``M @ spikes`` is event-driven")
        globals()[_nm] = _make(
            _nm, _kind, _np_, _tr,
            f"Just-in-time random matrix of shape ``(m, n)``, {_layout}.\n\n    {_d}\n    Each entry is "
            f"connected independently with probability ``prob``; nothing of size m x n is stored.\n"
            + _EX.format(name=_nm, args=_a))
for _kind in ("Scalar", "Normal", "Uniform"):
    _PAIR[globals()[f"JITC{_kind}R"]] = globals()[f"JITC{_kind}C"]
    _PAIR[globals()[f"JITC{_kind}C"]] = globals()[f"JITC{_kind}R"]
