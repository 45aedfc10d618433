"""The compiled XLA:CPU kernel against the pure-JAX products and a dense NumPy reference."""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev
from brainsim.event import _backend
from _kernels import require_kernel

require_kernel()


@pytest.fixture
def backend():
    """Run a function under a given backend; restores 'auto' afterwards."""
    def run(name, fn, *args):
        ev.set_backend(name)
        try:
            return np.asarray(fn(*args))
        finally:
            ev.set_backend("auto")
    yield run
    ev.set_backend("auto")


def _matrix(kind, m, n, hetero, rng):
    """A matrix of kind ``kind`` with shape (m, n), rows 0 and 3 (or cols) left empty."""
    if kind in ("csr", "csc"):
        W = (rng.random((m, n)) < 0.3) * rng.standard_normal((m, n)).astype(np.float32)
        W[0] = 0
        W[:, 1 % n] = 0
        if not hetero:
            W = (W != 0) * np.float32(0.7)
        M = ev.CSR.from_dense(W) if kind == "csr" else ev.CSC.from_dense(W)
        return M, W.astype(np.float32)
    k = 3
    rows, cols = (m, n) if kind == "pre" else (n, m)
    idx = np.stack([rng.choice(cols, k, replace=False) for _ in range(rows)]).astype(np.int32)
    w = rng.standard_normal((rows, k)).astype(np.float32) if hetero else np.float32(-1.3)
    M = (ev.FixedNumPerPre if kind == "pre" else ev.FixedNumPerPost)((w, idx), shape=(m, n))
    return M, np.asarray(M.todense())


def _events(rng, shape, mode, dtype):
    x = rng.random(shape) < 0.3
    if mode == "none":
        x[:] = False
    elif mode == "all":
        x[:] = True
    if dtype == "bool":
        return x
    return (x * rng.uniform(0.5, 2.0, shape)).astype(np.float32)


# (matrix kind, event side): spikes @ M for row formats, M @ spikes for column formats
CASES = [("csr", "left"), ("csc", "right"), ("pre", "left"), ("post", "right")]


def _prod(side, binary):
    def f(x, M):
        xx = ev.BinaryArray(x) if binary else x
        return xx @ M if side == "left" else M @ xx
    return f


@pytest.mark.parametrize("kind,side", CASES)
@pytest.mark.parametrize("hetero", [False, True])
def test_kernel_equals_jax_and_dense(kind, side, hetero, backend):
    """One batch holds a row with some, one with no and one with all events."""
    rng = np.random.default_rng([CASES.index((kind, side)), int(hetero)])
    m, n = int(rng.integers(5, 40)), int(rng.integers(5, 40))
    M, W = _matrix(kind, m, n, hetero, rng)
    k = m if side == "left" else n
    for dtype, binary in (("bool", True), ("float32", True), ("float32", False)):
        x = np.stack([_events(rng, (k,), mode, dtype) for mode in ("some", "none", "all")])
        xs = (x != 0).astype(np.float32) if binary else x.astype(np.float32)
        if side == "right":
            x, xs = x.T, xs.T
        ref = xs @ W if side == "left" else W @ xs
        got_k = backend("cpu_kernel", _prod(side, binary), x, M)
        got_j = backend("jax", _prod(side, binary), x, M)
        np.testing.assert_allclose(got_k, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got_k, got_j, rtol=1e-5, atol=1e-5)
        # a single (1-D) event vector takes the same kernel with a batch of one
        x1 = x[0] if side == "left" else x[:, 0]
        np.testing.assert_allclose(backend("cpu_kernel", _prod(side, binary), x1, M),
                                   ref[0] if side == "left" else ref[:, 0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,side", CASES)
@pytest.mark.parametrize("dtype", ["bool", "float32"])
def test_sparse_events_at_block_edges_equal_dense(kind, side, dtype, backend):
    """The scatter skips 16 silent events at a time: events at the edges of those blocks, in a
    tail shorter than a block, and -0.0 (silent, though its sign bit is set) and NaN (an event)
    must all be counted as the dense product counts them."""
    rng = np.random.default_rng([7, CASES.index((kind, side)), int(dtype == "bool")])
    m, n = (1003, 37) if side == "left" else (37, 1003)
    M, W = _matrix(kind, m, n, True, rng)
    k = m if side == "left" else n
    on = [15, 16, 31, 32, 47, 500, 991, 992, 1000, k - 1]
    x = np.zeros((2, k), np.float32)
    x[0, on] = rng.uniform(0.5, 2.0, len(on))
    x[1, 0] = 1.
    if dtype == "float32":
        x[0, 200] = -0.0                                 # silent, like 0
    for binary in (True, False):
        if dtype == "float32" and binary:
            x[1, 64] = np.nan          # an event; as a value it would make the dense row all NaN
        else:
            x[1, 64] = 0.
        xin = x != 0 if dtype == "bool" else x
        xs = (x != 0).astype(np.float32) if binary or dtype == "bool" else x
        ref = xs @ W if side == "left" else W @ xs.T
        a = xin if side == "left" else xin.T
        got = backend("cpu_kernel", _prod(side, binary), a, M)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_kernel_is_in_the_compiled_program():
    rng = np.random.default_rng(1)
    M, _ = _matrix("csr", 20, 30, True, rng)
    x = jnp.asarray(rng.random(20) < 0.5)
    for name, expect in (("cpu_kernel", True), ("jax", False)):
        ev.set_backend(name)
        try:
            hlo = jax.jit(lambda x, M: ev.BinaryArray(x) @ M).lower(x, M).compile().as_text()
        finally:
            ev.set_backend("auto")
        assert ("brainsim_csr_scatter" in hlo) is expect


@pytest.mark.parametrize("kind,side", CASES)
def test_kernel_grad_equals_jax_grad_of_dense(kind, side, backend):
    """Weights and float events are differentiated by the pure-JAX rules around the kernel."""
    rng = np.random.default_rng(2)
    M, W = _matrix(kind, 12, 9, True, rng)
    k = 12 if side == "left" else 9
    x = _events(rng, (k,), "some", "float32")
    cot = rng.standard_normal(9 if side == "left" else 12).astype(np.float32)
    mask = np.asarray(M.todense() != 0)

    def loss(data, x):
        y = _prod(side, False)(x, M.with_data(data))
        return jnp.sum(jnp.sin(y) * cot)

    def loss_dense(Wd, x):
        y = x @ Wd if side == "left" else Wd @ x
        return jnp.sum(jnp.sin(y) * cot)

    gk = backend("cpu_kernel", lambda d, x: jax.jit(jax.grad(loss, argnums=1))(d, x), M.data, x)
    gx_ref = jax.grad(loss_dense, argnums=1)(W, x)
    np.testing.assert_allclose(gk, gx_ref, rtol=1e-4, atol=1e-5)
    # weight gradient, compared entry by entry via the dense matrix of the gradient
    ev.set_backend("cpu_kernel")
    try:
        gd = jax.jit(jax.grad(loss))(M.data, x)
    finally:
        ev.set_backend("auto")
    gW = np.asarray(M.with_data(gd).todense())
    gW_ref = np.asarray(jax.grad(loss_dense)(W, x)) * mask
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind,side", CASES)
def test_kernel_under_vmap_equals_dense(kind, side, backend):
    rng = np.random.default_rng(3)
    M, W = _matrix(kind, 10, 7, True, rng)
    k = 10 if side == "left" else 7
    X = _events(rng, (4, k), "some", "bool")
    f = jax.jit(jax.vmap(_prod(side, True), in_axes=(0, None)))
    got = backend("cpu_kernel", f, X, M)
    ref = X.astype(np.float32) @ W if side == "left" else X.astype(np.float32) @ W.T
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # weights mapped too: each vmapped matrix gives its own product
    datas = jnp.stack([M.data, 2 * M.data])
    g = jax.jit(jax.vmap(lambda d, x: _prod(side, True)(x, M.with_data(d)), in_axes=(0, None)))
    got2 = backend("cpu_kernel", g, datas, X[0])
    np.testing.assert_allclose(got2[1], 2 * got2[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got2[0], got[0], rtol=1e-5, atol=1e-5)


def test_vmap_over_events_is_one_kernel_call_not_a_loop():
    rng = np.random.default_rng(4)
    M, W = _matrix("csr", 30, 20, True, rng)
    X = _events(rng, (2, 5, 30), "some", "float32")          # two nested vmaps over events
    f = jax.vmap(jax.vmap(lambda x: ev.BinaryArray(x) @ M))
    ev.set_backend("cpu_kernel")
    try:
        hlo = jax.jit(f).lower(X).compile().as_text()
        got = jax.jit(f)(X)
    finally:
        ev.set_backend("auto")
    assert hlo.count('custom_call_target="brainsim_csr_scatter"') == 1
    assert " while(" not in hlo and "while_body" not in hlo
    np.testing.assert_allclose(got, (X != 0).astype(np.float32) @ W, rtol=1e-5, atol=1e-5)


def test_kernel_inside_scan_matches_jax(backend):
    rng = np.random.default_rng(4)
    M = ev.random_conn(300, 200, prob=0.05, seed=0, weight=0.5)
    S = jnp.asarray(rng.random((20, 300)) < 0.05)

    def run(S, M):
        return jax.lax.scan(lambda c, s: (0.9 * c + ev.BinaryArray(s) @ M, None), jnp.zeros(200), S)[0]

    np.testing.assert_allclose(backend("cpu_kernel", jax.jit(run), S, M),
                               backend("jax", jax.jit(run), S, M), rtol=1e-5, atol=1e-5)


def test_unsupported_dtypes_fall_back_to_jax(backend):
    """float16 events are not a kernel form: the product must still be right (pure JAX)."""
    rng = np.random.default_rng(5)
    M, W = _matrix("csr", 8, 6, True, rng)
    x = (rng.random(8) < 0.5).astype(np.float16) * np.float16(1.5)
    got = backend("cpu_kernel", lambda x, M: x @ M, x, M)
    np.testing.assert_allclose(got, x.astype(np.float32) @ W, rtol=1e-2, atol=1e-2)


def test_set_backend_rejects_unknown_names():
    with pytest.raises(ValueError, match="event backend must be one of .* got 'gpu'"):
        ev.set_backend("gpu")


def test_env_variable_selects_the_backend(monkeypatch):
    monkeypatch.setenv("BRAINSIM_EVENT_BACKEND", "jax")
    monkeypatch.setitem(_backend._state, "backend", None)
    assert ev.get_backend() == "jax"
    monkeypatch.setenv("BRAINSIM_EVENT_BACKEND", "fast")
    monkeypatch.setitem(_backend._state, "backend", None)
    with pytest.raises(ValueError, match="got 'fast'"):
        ev.get_backend()
