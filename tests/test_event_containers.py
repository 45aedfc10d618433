"""Spike containers: pack/unpack round trips, compact overflow, products equal the dense ones."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev


@pytest.mark.parametrize("m", [1, 31, 32, 33, 100])
def test_pack_unpack_roundtrip(m):
    rng = np.random.default_rng(m)
    x = rng.random((3, m)) < 0.4
    w = ev.pack(x)
    assert w.dtype == jnp.uint32 and w.shape == (3, -(-m // 32))
    np.testing.assert_array_equal(ev.unpack(w, m), x)
    # bit b of word k is entry 32k + b (independent reference: a Python loop)
    ref = [sum(1 << b for b in range(32) if 32 * k + b < m and x[0, 32 * k + b]) for k in range(-(-m // 32))]
    assert np.asarray(w[0]).tolist() == ref


def test_containers_products_agree():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(70, 9)).astype(np.float32)
    M = ev.CSR.from_dense(W * (rng.random(W.shape) < 0.5))
    Wd = np.asarray(M.todense())
    s = rng.random(70) < 0.2
    ref = s.astype(np.float32) @ Wd
    for spikes in (ev.BinaryArray(s), ev.BitPackedBinary.from_array(s),
                   ev.CompactBinary.from_array(s, capacity=40)):
        np.testing.assert_allclose(spikes @ M, ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(spikes @ Wd, ref, rtol=1e-5, atol=1e-5)
    t = rng.random(9) < 0.5
    np.testing.assert_allclose(M @ ev.BitPackedBinary.from_array(t), Wd @ t, rtol=1e-5, atol=1e-5)


def test_compact_binary_indices_and_jit():
    x = np.zeros(50, np.float32)
    x[[3, 17, 49]] = 1
    c = ev.CompactBinary.from_array(x, capacity=5)
    assert np.asarray(c.indices).tolist() == [3, 17, 49, 50, 50] and int(c.count) == 3
    assert not bool(c.overflowed)
    out = jax.jit(lambda c: c.to_dense())(c)  # a pytree through jit
    np.testing.assert_array_equal(out, x != 0)


def test_compact_binary_overflow_is_reported():
    x = np.ones(10)
    with pytest.raises(ValueError, match=r"10 events exceed capacity=4"):
        ev.CompactBinary.from_array(x, capacity=4)
    W = np.ones((10, 3), np.float32)
    y = jax.jit(lambda x: ev.CompactBinary.from_array(x, capacity=4) @ W)(x)  # traced: NaN, not truncated
    assert np.all(np.isnan(np.asarray(y)))
    flag = jax.jit(lambda x: ev.CompactBinary.from_array(x, capacity=4).overflowed)(x)
    assert bool(flag)


_OVERFLOW_MATRICES = {
    "csr": lambda: ev.CSR.from_dense(np.ones((6, 5), np.float32)),
    "csc": lambda: ev.CSC.from_dense(np.ones((6, 5), np.float32)),
    "fixed_pre": lambda: ev.FixedNumPerPre((1.0, np.zeros((6, 2), int)), shape=(6, 5)),
    "fixed_post": lambda: ev.FixedNumPerPost((1.0, np.zeros((5, 2), int)), shape=(6, 5)),
    **{f"jitc_{k.lower()}_{lay.lower()}": (lambda k=k, lay=lay: getattr(ev, f"JITC{k}{lay}")(
        (1.0,) * (1 if k == "Scalar" else 2) + (0.9, 1), shape=(6, 5)))
       for k in ("Scalar", "Normal", "Uniform") for lay in ("R", "C")},
    "dense_numpy": lambda: np.ones((6, 5), np.float32),
    "dense_jax": lambda: jnp.ones((6, 5), jnp.float32),
}


def _overflowed(size):
    """Four events stored, count says six: the container dropped two."""
    return ev.CompactBinary.tree_unflatten(size, (jnp.arange(4, dtype=jnp.int32), jnp.int32(6)))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("kind", _OVERFLOW_MATRICES)
def test_every_product_with_an_overflowed_container_is_nan_or_raises(kind, side):
    M = _OVERFLOW_MATRICES[kind]()
    size = 6 if side == "left" else 5
    prod = (lambda c, M: c @ M) if side == "left" else (lambda c, M: M @ c)
    y = jax.jit(lambda idx, count: prod(ev.CompactBinary(idx, count, size=size), M))(
        jnp.arange(4, dtype=jnp.int32), jnp.int32(6))
    assert y.shape == ((5,) if side == "left" else (6,))
    assert np.all(np.isnan(np.asarray(y))), f"{kind} {side}: a truncated product {y} passed as valid"
    with pytest.raises(ValueError, match=r"CompactBinary overflow: 6 events exceed capacity=4"):
        prod(_overflowed(size), M)
    # a container that did not overflow gives the dense product
    ok = ev.CompactBinary(jnp.arange(4, dtype=jnp.int32), 4, size=size)
    dense = np.array(M.todense() if hasattr(M, "todense") else M, np.float64)
    x = np.zeros(size)
    x[:4] = 1
    # the reference by elementwise float64 sums, not NumPy's BLAS matmul: in one CI run every
    # `dense @ x` here raised "invalid value encountered in matmul" on finite 0/1 inputs
    # (not reproduced alone; OpenBLAS 0.3.31), which failed the test for no fault of ours
    ref = (x[:, None] * dense).sum(0) if side == "left" else (dense * x).sum(1)
    np.testing.assert_allclose(prod(ok, M), ref, rtol=1e-5, atol=1e-6)


def test_compact_binary_constructor_refuses_known_overflow():
    with pytest.raises(ValueError, match=r"CompactBinary overflow: 3 events exceed capacity=2"):
        ev.CompactBinary(np.array([0, 1]), 3, size=5)
