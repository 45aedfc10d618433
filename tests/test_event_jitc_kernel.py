"""The compiled JIT-connectivity kernel and the all-synapse (gather) kernels.

The kernel regenerates every row from the seed; it must draw *the same matrix* as the pure-JAX
path (``todense`` and the jnp products). Products are compared with the dense product of
``todense()``; the drawn structure is compared exactly, by reading the kernel's matrix back
with one-hot rows.
"""
from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev
from brainsim.event import _backend
from brainsim.event._jitc_draw import LOG2_TABLE, _neg_log2_fixed, gaps_of
from _kernels import require_kernel

require_kernel("brainsim_jitc")

KINDS = {"Scalar": (0.7,), "Normal": (0.5, 0.3), "Uniform": (-0.2, 0.6)}
FORMATS = [(k, lay) for k in KINDS for lay in ("R", "C")]


def _jitc(kind, lay, m, n, prob, seed):
    return getattr(ev, f"JITC{kind}{lay}")(KINDS[kind] + (prob, seed), shape=(m, n))


def _on(name, fn, *args):
    ev.set_backend(name)
    try:
        return np.asarray(fn(*args))
    finally:
        ev.set_backend("auto")


def _prod(left, binary):
    """``x @ M`` (left) or ``(M @ x.T).T`` for a (B, k) batch x."""
    def f(x, M):
        xx = x if left else x.T
        xx = ev.BinaryArray(xx) if binary else xx
        return xx @ M if left else (M @ xx).T
    return jax.jit(f)


def _batch(rng, B, k, level, dtype):
    x = rng.random((B, k)) < level
    x[0] = False                       # one silent row in every batch
    if B > 2:
        x[-1] = True                   # and one row all active
    if dtype == "bool":
        return x
    return (x * rng.uniform(0.5, 2.0, (B, k))).astype(np.float32)


@pytest.mark.parametrize("kind,lay", FORMATS)
def test_kernel_draws_the_matrix_of_the_jax_path(kind, lay):
    """One-hot rows read the kernel's matrix back: the same entries as todense (pure JAX)."""
    rng = np.random.default_rng(FORMATS.index((kind, lay)))
    m, n = (int(v) for v in rng.integers(20, 90, 2))
    M = _jitc(kind, lay, m, n, float(rng.uniform(0.05, 0.5)), int(rng.integers(0, 2 ** 32)))
    D = np.asarray(M.todense())
    # spikes @ M for R (the event side), M @ spikes for C; both one kernel call over a batch
    eye = np.eye(m if lay == "R" else n, dtype=bool)
    got = _on("cpu_kernel", _prod(lay == "R", True), eye, M)
    got = got if lay == "R" else got.T
    np.testing.assert_array_equal(got != 0, D != 0)
    if kind != "Scalar":   # weights: log/cos, and a*b+c that XLA may fuse, agree to rounding
        np.testing.assert_allclose(got, D, rtol=2e-6, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, D)
    assert 0 < (D != 0).sum() < D.size


@pytest.mark.parametrize("kind,lay", FORMATS)
def test_kernel_products_equal_jax_and_dense(kind, lay):
    """Both sides, spikes and float operands, bool/float32, batch sizes 1 and 4, three densities."""
    rng = np.random.default_rng(10 + FORMATS.index((kind, lay)))
    m, n = (int(v) for v in rng.integers(5, 70, 2))
    M = _jitc(kind, lay, m, n, float(rng.uniform(0.02, 0.6)), int(rng.integers(0, 1000)))
    D = np.asarray(M.todense()).astype(np.float64)
    for left in (True, False):
        k = m if left else n
        for B, level, dtype, binary in ((1, 0.3, "bool", True), (4, 0.05, "float32", True),
                                        (4, 0.5, "float32", False), (1, 1.0, "float32", False)):
            x = _batch(rng, B, k, level, dtype)
            xs = (x != 0) if binary else x
            ref = xs @ D if left else (D @ xs.T).T
            f = _prod(left, binary)
            got_k, got_j = _on("cpu_kernel", f, x, M), _on("jax", f, x, M)
            np.testing.assert_allclose(got_k, ref, rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got_j, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind,lay", [("Normal", "R"), ("Uniform", "C")])
def test_kernel_gradients_equal_jax_and_dense(kind, lay):
    """Weight and operand gradients through the kernel's primal equal the pure-JAX and dense ones."""
    rng = np.random.default_rng(20)
    m, n = 17, 23
    M = _jitc(kind, lay, m, n, 0.3, 9)
    x = rng.standard_normal(m).astype(np.float32)
    cot = rng.standard_normal(n).astype(np.float32)

    def loss(params, x):
        return jnp.sum(jnp.sin(x @ M.with_data(*params)) * cot)

    # the values are linear in the parameters: D(params) = sum_k params[k] * D(e_k)
    basis = [np.asarray(M.with_data(*np.eye(2, dtype=np.float32)[k]).todense()) for k in range(2)]

    def loss_dense(params, x):
        Dp = params[0] * basis[0] + params[1] * basis[1]
        return jnp.sum(jnp.sin(x @ Dp) * cot)

    params = tuple(jnp.float32(v) for v in KINDS[kind])
    g = jax.jit(jax.grad(loss, argnums=(0, 1)))
    ev.set_backend("cpu_kernel")
    try:
        (gp_k, gx_k) = g(params, x)
    finally:
        ev.set_backend("auto")
    ev.set_backend("jax")
    try:
        (gp_j, gx_j) = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    finally:
        ev.set_backend("auto")
    gp_d, gx_d = jax.grad(loss_dense, argnums=(0, 1))(params, x)
    np.testing.assert_allclose(gx_k, gx_d, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gx_k, gx_j, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.array(gp_k), np.array(gp_d), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.array(gp_k), np.array(gp_j), rtol=1e-5, atol=1e-6)


def test_vmap_over_events_and_weights_is_one_kernel_call():
    rng = np.random.default_rng(30)
    M = _jitc("Uniform", "R", 40, 30, 0.2, 5)
    D = np.asarray(M.todense())
    X = _batch(rng, 6, 40, 0.2, "bool").reshape(2, 3, 40)
    f = jax.jit(jax.vmap(jax.vmap(lambda x: ev.BinaryArray(x) @ M)))
    ev.set_backend("cpu_kernel")
    try:
        hlo = f.lower(X).compile().as_text()
        got = f(X)
        lows = jnp.asarray([-0.2, 0.1])
        g = jax.jit(jax.vmap(lambda lo, x: ev.BinaryArray(x) @ M.with_data(lo, 0.6), in_axes=(0, None)))
        got_w = g(lows, X[0, 1])
    finally:
        ev.set_backend("auto")
    assert hlo.count('custom_call_target="brainsim_jitc"') == 1
    assert " while(" not in hlo
    np.testing.assert_allclose(got, X.astype(np.float32) @ D, rtol=1e-5, atol=1e-5)
    for k, lo in enumerate([-0.2, 0.1]):
        ref = X[0, 1].astype(np.float32) @ np.asarray(M.with_data(lo, 0.6).todense())
        np.testing.assert_allclose(got_w[k], ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt,left", [("csr", False), ("csc", True), ("pre", False), ("post", True)])
def test_gather_kernel_equals_jax_and_dense(fmt, left):
    """The all-synapse direction of the stored formats (CSR @ x, x @ CSC, ...) now runs compiled."""
    rng = np.random.default_rng(40)
    m, n = 19, 27
    if fmt in ("csr", "csc"):
        W = ((rng.random((m, n)) < 0.3) * rng.standard_normal((m, n))).astype(np.float32)
        M = ev.CSR.from_dense(W) if fmt == "csr" else ev.CSC.from_dense(W)
    else:
        rows, cols = (m, n) if fmt == "pre" else (n, m)
        idx = np.stack([rng.choice(cols, 4, replace=False) for _ in range(rows)])
        cls = ev.FixedNumPerPre if fmt == "pre" else ev.FixedNumPerPost
        M = cls((rng.standard_normal((rows, 4)).astype(np.float32), idx), shape=(m, n))
        W = np.asarray(M.todense())
    for B, dtype, binary in ((1, "float32", False), (3, "bool", True), (3, "float32", True)):
        x = _batch(rng, B, m if left else n, 0.4, dtype)
        xs = ((x != 0) if binary else x).astype(np.float64)
        ref = xs @ W if left else (W @ xs.T).T
        f = _prod(left, binary)
        np.testing.assert_allclose(_on("cpu_kernel", f, x, M), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(_on("jax", f, x, M), ref, rtol=1e-5, atol=1e-5)
    ev.set_backend("cpu_kernel")
    try:
        hlo = jax.jit(_prod(left, False)).lower(np.zeros((1, m if left else n), np.float32), M)
        assert 'custom_call_target="brainsim_csr_gather"' in hlo.compile().as_text()
    finally:
        ev.set_backend("auto")


def test_fixed_point_log_and_gaps_follow_the_geometric_law():
    """The integer -log2 is within 2e-6 of float64's; gap tails match (1 - p)^k."""
    h = np.random.default_rng(50).integers(0, 2 ** 32, 200_000, dtype=np.uint64).astype(np.uint32)
    u = ((h >> 8).astype(np.float64) + 1) / 2 ** 24
    y = np.asarray(_neg_log2_fixed(jnp.asarray(h))) / 2 ** 22
    np.testing.assert_allclose(y, -np.log2(u), atol=2e-6, rtol=0)
    assert LOG2_TABLE[0] == 0 and LOG2_TABLE[-1] == 1 << 22
    p = 0.05
    g = np.asarray(gaps_of(jnp.asarray(h), p, 10 ** 6))
    for k in (1, 5, 20, 60):
        tail = np.mean(g > k)
        want = (1 - p) ** k
        assert abs(tail - want) < 5 * np.sqrt(want * (1 - want) / h.size) + 1e-4, (k, tail, want)


def test_columns_are_uniform_and_rows_independent():
    """Column counts of a JITC matrix are binomial: a chi-square over 400 columns stays in range."""
    M = ev.JITCScalarR((1.0, 0.05, 11), shape=(3000, 400))
    D = np.asarray(M.todense()) != 0
    col = D.sum(0)
    expect = 3000 * 0.05
    chi2 = np.sum((col - expect) ** 2 / (expect * 0.95))
    assert 400 - 5 * np.sqrt(800) < chi2 < 400 + 5 * np.sqrt(800)
    assert abs(D.sum() - 3000 * 400 * 0.05) < 5 * np.sqrt(3000 * 400 * 0.05)
    # prob 1 and 0 are the full and the empty matrix, on both backends
    for prob, want in ((1.0, np.ones((5, 7))), (0.0, np.zeros((5, 7)))):
        F = ev.JITCScalarR((1.0, prob, 3), shape=(5, 7))
        np.testing.assert_array_equal(np.asarray(F.todense()), want)
        np.testing.assert_array_equal(_on("cpu_kernel", _prod(True, True), np.eye(5, dtype=bool), F), want)


def test_silent_blocks_negative_zero_and_nan_follow_jnp():
    """One event vector over many rows: -0.0 is silent, NaN is an event (as ``x != 0`` in jnp)."""
    M = _jitc("Scalar", "R", 100, 30, 0.2, 2)
    x = np.zeros(100, np.float32)
    x[[3, 40, 99]] = 1.0          # events in otherwise silent blocks of 16, and in the tail
    x[20] = -0.0
    f = _prod(True, True)
    np.testing.assert_array_equal(_on("cpu_kernel", f, x[None], M), _on("jax", f, x[None], M))
    x[70] = np.nan
    got, want = _on("cpu_kernel", f, x[None], M), _on("jax", f, x[None], M)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=1e-6)
    xb = np.zeros((1, 100), bool)
    xb[0, [0, 17, 64]] = True
    np.testing.assert_array_equal(_on("cpu_kernel", f, xb, M),
                                  xb.astype(np.float32) @ np.asarray(M.todense()))


# The kernel computes the gaps in an AVX2 form where the CPU has it and in a scalar form
# otherwise (BRAINSIM_JITC_ISA=scalar forces it): both must draw the pure-JAX matrix.
# (prob, columns, seed): rows of ~60, ~350 and ~20 targets, so several 32-slot chunks each
_DRAW_CASES = ((0.02, 3000, 5), (0.5, 700, 6), (1e-3, 20000, 7))
_DRAW = f"""
import hashlib, sys
import numpy as np
import brainsim.event as ev
from brainsim.event import _kernels_cpu
out = [_kernels_cpu.jitc_gap_form()]
for prob, n, seed in {_DRAW_CASES!r}:
    M = ev.JITCScalarR((0.7, prob, seed), shape=(64, n))
    got = np.asarray(ev.BinaryArray(np.eye(64, dtype=bool)) @ M)
    out.append(hashlib.sha256(np.packbits(got != 0).tobytes()).hexdigest())
print(" ".join(out))
"""


@pytest.mark.parametrize("isa", ["scalar", "default"])
def test_every_gap_form_draws_the_matrix_of_the_jax_path(isa):
    import hashlib
    import os
    import subprocess
    import sys
    env = dict(os.environ, BRAINSIM_EVENT_BACKEND="cpu_kernel")   # never the pure-JAX path
    env.pop("BRAINSIM_JITC_ISA", None)
    if isa != "default":
        env["BRAINSIM_JITC_ISA"] = isa
    out = subprocess.run([sys.executable, "-c", _DRAW], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    with open("/proc/cpuinfo") as f:
        avx2 = " avx2" in f.read()
    want = ["avx2" if isa == "default" and avx2 else "scalar"]
    for prob, n, seed in _DRAW_CASES:
        D = np.asarray(ev.JITCScalarR((0.7, prob, seed), shape=(64, n)).todense())
        assert 0 < (D != 0).sum() < D.size
        want.append(hashlib.sha256(np.packbits(D != 0).tobytes()).hexdigest())
    assert out.stdout.split() == want


def test_an_unknown_draw_form_is_refused(monkeypatch):
    monkeypatch.setenv("BRAINSIM_JITC_ISA", "avx9")
    monkeypatch.setitem(_backend._state, "registered", None)
    with pytest.raises(ValueError, match=r"BRAINSIM_JITC_ISA='avx9' is not a form of the JITC "
                                         r"kernel's draw: expected 'scalar'.*How to fix: unset"):
        _backend.kernels_available()
