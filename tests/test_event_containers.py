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
