"""Integration methods for parsed model equations.

Each builder takes the right-hand sides (sympy, subexpressions already
substituted) and returns ``step(values, dt) -> {name: new value}`` working
on unitless SI arrays. Multi-variable systems are advanced jointly: every
stage sees all variables at the same point.

- ``euler``, ``rk2``, ``heun``, ``rk4``: explicit Runge-Kutta schemes.
- ``exponential_euler``: each equation must be linear in its own variable,
  :math:`\\dot x = A x + B` with :math:`A, B` free of :math:`x` (other
  variables frozen over the step). As in Brian 1, :math:`B = f|_{x=0}` and
  :math:`A = f|_{x=1} - B`; the step is
  :math:`x + \\Delta t\\, \\varphi_1(A\\Delta t)(A x + B)`.
- ``exact``: linear systems :math:`\\dot y = M y + c` whose matrix :math:`M`
  holds no variable and no ``t``; solved with the matrix exponential of the
  augmented matrix (or the scalar closed form when :math:`M` is diagonal).
"""
from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp
import sympy

from .._math import exprel
from ._codegen import compile_exprs

__all__ = ["METHODS", "build_step"]

Step = Callable[[dict, Any], dict]

_TABLEAUS = {
    # (c, a, b): stage times, stage weights on the previous stages, final weights
    "euler": ([0.], [[]], [1.]),
    "rk2": ([0., .5], [[], [.5]], [0., 1.]),
    "heun": ([0., 1.], [[], [1.]], [.5, .5]),
    "rk4": ([0., .5, .5, 1.], [[], [.5], [0., .5], [0., 0., 1.]], [1 / 6, 1 / 3, 1 / 3, 1 / 6]),
}


def _expm1_matrix(X: Any, squarings: int = 8, terms: int = 8) -> Any:
    """``expm(X) - I`` for small batched matrices by scaling and squaring.

    Kept in the ``expm(X) - I`` form throughout (``E <- 2E + E @ E``), so the
    small entries of a step's propagator are not lost against the identity in
    float32. A fixed number of terms and squarings keeps it cheap to compile
    and differentiate; the truncation error is below float32 rounding for
    ``|X| < 50`` (``|X / 256| < 0.2``, 9th-order remainder ``< 1e-12``).
    """
    eye = jnp.eye(X.shape[-1], dtype=X.dtype)
    Y = X / 2. ** squarings
    P = eye
    for k in range(terms, 1, -1):
        P = eye + (Y @ P) / k
    E = Y @ P
    for _ in range(squarings):
        E = 2. * E + E @ E
    return E


def _runge_kutta(name: str, rhs: dict, functions: dict) -> Step:
    c, a, b = _TABLEAUS[name]
    names = list(rhs)
    f = compile_exprs([rhs[n] for n in names], functions)

    def step(values: dict, dt: Any) -> dict:
        ks: list = []
        for ci, ai in zip(c, a):
            v = dict(values)
            for n_i, n in enumerate(names):
                v[n] = values[n] + dt * sum((w * k[n_i] for w, k in zip(ai, ks) if w), 0.)
            v["t"] = values["t"] + ci * dt
            ks.append(f(v))
        return {n: values[n] + dt * sum(w * k[i] for w, k in zip(b, ks) if w)
                for i, n in enumerate(names)}

    return step


def _refuse(method: str, eq_text: str, why: str, other: str) -> ValueError:
    return ValueError(f"method={method!r} cannot integrate the equation '{eq_text}': {why}. "
                      f"How to fix: choose method={other!r} (or 'rk4').")


def _exponential_euler(rhs: dict, functions: dict, texts: dict) -> Step:
    names = list(rhs)
    coefs = []
    for n in names:
        x = sympy.Symbol(n, real=True)
        B = rhs[n].subs(x, 0)
        # expanded to cancel the B terms, then with common factors pulled out so the
        # generated code divides once: -(ge + gi + gl)/C, not -ge/C - gi/C - gl/C
        A = sympy.factor_terms(sympy.expand(rhs[n].subs(x, 1) - B))
        if x in sympy.diff(rhs[n], x).free_symbols:
            raise _refuse("exponential_euler", texts[n], f"it is not linear in {n}", "euler")
        coefs += [A, B]
    f = compile_exprs(coefs, functions)

    def step(values: dict, dt: Any) -> dict:
        ab = f(values)
        out = {}
        for i, n in enumerate(names):
            A, B = ab[2 * i], ab[2 * i + 1]
            out[n] = values[n] + dt * exprel(A * dt) * (A * values[n] + B)
        return out

    return step


def _exact(rhs: dict, functions: dict, texts: dict) -> Step:
    names = list(rhs)
    xs = [sympy.Symbol(n, real=True) for n in names]
    t = sympy.Symbol("t", real=True)
    M = [[sympy.diff(rhs[n], x) for x in xs] for n in names]
    for i, n in enumerate(names):
        for j, m in enumerate(M[i]):
            bad = (m.free_symbols & set(xs)) | (m.free_symbols & {t})
            if bad:
                why = (f"its coefficient of {names[j]} depends on "
                       f"{', '.join(sorted(s.name for s in bad))}, so it is not linear with "
                       "constant coefficients")
                other = "exponential_euler" if not (m.free_symbols & {xs[i]}) or i != j \
                    else "euler"
                raise _refuse("exact", texts[n], why, other)
    c = [rhs[n].subs({x: 0 for x in xs}) for n in names]
    diagonal = all(M[i][j] == 0 for i in range(len(names)) for j in range(len(names)) if i != j)
    k = len(names)
    f = compile_exprs([M[i][j] for i in range(k) for j in range(k)] + c, functions)

    def step(values: dict, dt: Any) -> dict:
        out = f(values)
        Mv, cv = out[:k * k], out[k * k:]
        if diagonal:
            res = {}
            for i, n in enumerate(names):
                A = Mv[i * k + i]
                res[n] = values[n] + dt * exprel(A * dt) * (A * values[n] + cv[i])
            return res
        # Over one step c is constant, so [y; c] obeys d/dt [y; c] = [[M, I], [0, 0]] [y; c]:
        # with E = expm(Z) - I for Z = that matrix times dt, y(t + dt) = y + E11 y + E12 c.
        # M usually holds constants only: then E is one small matrix for all neurons.
        mshape = jnp.broadcast_shapes(*[jnp.shape(m) for m in Mv])
        Mm = jnp.stack([jnp.stack([jnp.broadcast_to(jnp.asarray(Mv[i * k + j], jnp.float32),
                                                    mshape) for j in range(k)], -1)
                        for i in range(k)], -2)
        eye = jnp.broadcast_to(jnp.eye(k, dtype=Mm.dtype), mshape + (k, k))
        Z = jnp.concatenate([jnp.concatenate([Mm, eye], -1),
                             jnp.zeros(mshape + (k, 2 * k), Mm.dtype)], -2) * dt
        E = _expm1_matrix(Z)
        shape = jnp.broadcast_shapes(*[jnp.shape(values[n]) for n in names],
                                     *[jnp.shape(ci) for ci in cv])
        y = jnp.stack([jnp.broadcast_to(values[n], shape) for n in names], -1)
        cm = jnp.stack([jnp.broadcast_to(ci, shape) for ci in cv], -1)
        y = y + jnp.einsum("...ij,...j->...i", E[..., :k, :k], y) + \
            jnp.einsum("...ij,...j->...i", E[..., :k, k:], cm)
        return {n: y[..., i] for i, n in enumerate(names)}

    return step


METHODS = ("exact", "exponential_euler", "euler", "rk2", "heun", "rk4")


def build_step(method: str, rhs: dict, functions: dict, texts: dict) -> Step:
    """The stepper for ``method`` on the system ``{name: sympy rhs}``.

    ``texts`` maps each variable to its equation's source line (for messages).
    """
    if method in _TABLEAUS:
        return _runge_kutta(method, rhs, functions)
    if method == "exponential_euler":
        return _exponential_euler(rhs, functions, texts)
    if method == "exact":
        return _exact(rhs, functions, texts)
    from ._units import suggest
    raise ValueError(f"Unknown method {method!r}; valid methods: "
                     f"{', '.join(repr(m) for m in METHODS)}.{suggest(method, list(METHODS))}")
