"""Tests for brainsim.encoding against independent numpy formulas."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim import encoding


def _ref_time(x, tau, thr):
    """Independent first-spike time: v(t) = x (1 - e^{-t/tau}) reaches thr at -tau log(1 - thr/x)."""
    x = np.asarray(x, np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        return np.where(x > thr, -tau * np.log1p(-thr / x), np.inf)


def test_current2firing_time_formula():
    x = np.array([0., 0.1, 0.2, 0.2001, 0.3, 0.5, 0.75, 1.0, 3.0], np.float32)
    t = np.asarray(encoding.current2firing_time(x, tau=20., thr=0.2, tmax=50.))
    ref = _ref_time(x, 20., 0.2)
    above = x > 0.2
    np.testing.assert_allclose(t[above], ref[above], rtol=2e-4)
    np.testing.assert_array_equal(t[~above], 50.)
    # no NaN in gradients below threshold (clipping inside the log)
    g = jax.grad(lambda z: encoding.current2firing_time(z).sum())(jnp.asarray(x))
    assert np.all(np.isfinite(np.asarray(g)))


def test_latency_single_spike_timing_and_ordering():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(8, 50)).astype(np.float32)
    x[0, :5] = [0.0, 0.2, 0.19, 1.0, 0.21]
    T, tau, thr = 30, 20., 0.2
    s = np.asarray(encoding.latency(x, T, tau=tau, threshold=thr))
    assert s.shape == (T, 8, 50) and set(np.unique(s)) <= {0., 1.}
    count = s.sum(0)
    assert count.max() <= 1                                      # at most one spike per pixel
    ref = np.floor(_ref_time(x, tau, thr))
    expect_fire = ref < T
    np.testing.assert_array_equal(count == 1, expect_fire)
    np.testing.assert_array_equal(s.argmax(0)[expect_fire], ref[expect_fire])
    assert not s[:, x <= thr].any()                              # at/below threshold never fires
    # stronger input spikes no later
    order = np.argsort(x[expect_fire])
    times = s.argmax(0)[expect_fire][order]
    assert np.all(np.diff(times) <= 0)


def test_latency_on_fashion_mnist_pixels():
    from test_datasets import _shared_head
    from brainsim.datasets import FashionMNIST
    ds = FashionMNIST(_shared_head(), download=False)
    x = ds.images[:16].reshape(16, -1) / 255.
    s = np.asarray(encoding.latency(x, 100))
    assert s.shape == (100, 16, 784) and s.sum(0).max() == 1
    np.testing.assert_array_equal(s.sum(0) == 1, x > 0.2)       # tau=20, T=100: every x>0.2 fires in time
    np.testing.assert_array_equal(s.argmax(0)[x > 0.2], np.floor(_ref_time(x, 20., 0.2))[x > 0.2])


def test_poisson_rate():
    ps = np.array([0.0, 0.05, 0.3, 0.8, 1.0], np.float32)
    T, n = 400, 500
    s = np.asarray(encoding.poisson(jnp.broadcast_to(jnp.asarray(ps)[:, None], (5, n)), T, jax.random.PRNGKey(1)))
    assert s.shape == (T, 5, n) and set(np.unique(s)) <= {0., 1.}
    rates = s.mean(axis=(0, 2))
    # each mean of T*n Bernoulli(p) draws has std sqrt(p(1-p)/(T n)) <= 1.1e-3; 6 sigma
    # makes a false failure ~1e-9 likely, while a wrong rate (e.g. p/2) is far outside
    tol = 6 * np.sqrt(ps * (1 - ps) / (T * n)) + 1e-12
    assert np.all(np.abs(rates - ps) <= tol), (rates, ps, tol)


def test_poisson_with_rate_quantity_and_keys():
    x = jnp.full((2, 300), 0.5)
    s = encoding.poisson(x, 500, jax.random.PRNGKey(2), max_rate=200 * u.Hz, dt=1. * u.ms)
    p = 0.5 * 0.2
    assert s.shape == (500, 2, 300)
    assert abs(float(s.mean()) - p) <= 6 * np.sqrt(p * (1 - p) / s.size)
    a = encoding.poisson(x, 20, jax.random.PRNGKey(3))
    np.testing.assert_array_equal(a, encoding.poisson(x, 20, jax.random.PRNGKey(3)))
    assert not np.array_equal(a, encoding.poisson(x, 20, jax.random.PRNGKey(4)))


def test_encoders_under_jit():
    x = jnp.asarray(np.random.default_rng(1).uniform(size=(4, 10)), jnp.float32)
    lat = jax.jit(encoding.latency, static_argnums=1)(x, 25)
    np.testing.assert_array_equal(lat, encoding.latency(x, 25))
    key = jax.random.PRNGKey(0)
    poi = jax.jit(encoding.poisson, static_argnums=1)(x, 25, key)
    np.testing.assert_array_equal(poi, encoding.poisson(x, 25, key))
    dr = jax.jit(encoding.direct, static_argnums=1)(x, 3)
    np.testing.assert_array_equal(dr, np.broadcast_to(np.asarray(x), (3, 4, 10)))


def test_direct_keeps_units():
    I = jnp.array([0.5, 1.0]) * u.nA
    out = encoding.direct(I, 4)
    assert out.shape == (4, 2) and u.get_unit(out) == u.nA
    np.testing.assert_array_equal(out.to_decimal(u.nA), [[0.5, 1.0]] * 4)


def test_bad_inputs():
    with pytest.raises(ValueError, match='num_steps must be a positive Python int .*got 0'):
        encoding.latency(jnp.ones(3), 0)
    with pytest.raises(ValueError, match='num_steps must be a positive Python int .*got 2.5'):
        encoding.poisson(jnp.ones(3), 2.5, jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match='max_rate=.* has a unit, so dt .* is required'):
        encoding.poisson(jnp.ones(3), 5, jax.random.PRNGKey(0), max_rate=100 * u.Hz)
    with pytest.raises(ValueError, match='max_rate \\* dt must be dimensionless'):
        encoding.poisson(jnp.ones(3), 5, jax.random.PRNGKey(0), max_rate=100 * u.Hz, dt=1 * u.mV)
    with pytest.raises(ValueError, match='latency|current2firing_time: x must be dimensionless.*got unit mV'):
        encoding.latency(jnp.ones(3) * u.mV, 5)


def _np_mix32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def test_poisson_hash_matches_numpy_reference():
    # the counter hash re-implemented in NumPy uint32 arithmetic (wrapping multiplies)
    x = jnp.asarray(np.random.default_rng(5).uniform(size=(3, 7)), jnp.float32)
    key = jax.random.PRNGKey(9)
    T = 6
    seed = np.asarray(jax.random.bits(key, (2,), jnp.uint32))
    c = np.arange(T * 21, dtype=np.uint32).reshape(T, 3, 7)
    with np.errstate(over="ignore"):
        h = _np_mix32(_np_mix32(c * np.uint32(0x9E3779B9) + seed[0]) ^ seed[1])
    thr = np.floor(np.asarray(x, np.float32) * np.float32(1 << 24)).astype(np.int64)
    ref = ((h >> np.uint32(8)).astype(np.int64) < thr).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(encoding.poisson(x, T, key)), ref)


@pytest.mark.parametrize("rng", ["hash", "threefry"])
def test_poisson_generators_rate_and_independence(rng):
    ps = np.array([0.0, 0.02, 0.3, 0.7, 1.0], np.float32)
    T, n = 300, 400
    s = np.asarray(encoding.poisson(jnp.broadcast_to(jnp.asarray(ps)[:, None], (5, n)), T,
                                    jax.random.PRNGKey(11), rng=rng))
    tol = 6 * np.sqrt(ps * (1 - ps) / (T * n)) + 1e-12
    assert np.all(np.abs(s.mean(axis=(0, 2)) - ps) <= tol)
    # no correlation between consecutive steps nor neighbouring inputs (p = 0.3 row): the
    # sample correlation of m independent pairs has std 1/sqrt(m); 6 sigma
    row = s[:, 2, :]
    for a, b in ((row[1:], row[:-1]), (row[:, 1:], row[:, :-1])):
        r = np.corrcoef(a.ravel(), b.ravel())[0, 1]
        assert abs(r) < 6 / np.sqrt(a.size), r
    # another key gives other draws; the same key the same ones
    x = jnp.full((4, 50), 0.5)
    a = encoding.poisson(x, 10, jax.random.PRNGKey(1), rng=rng)
    np.testing.assert_array_equal(a, encoding.poisson(x, 10, jax.random.PRNGKey(1), rng=rng))
    assert not np.array_equal(a, encoding.poisson(x, 10, jax.random.PRNGKey(2), rng=rng))


def test_poisson_hash_under_vmap_and_errors():
    x = jnp.full((3, 20), 0.4)
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    out = jax.vmap(lambda k: encoding.poisson(x, 5, k))(keys)
    for i in range(4):
        np.testing.assert_array_equal(out[i], encoding.poisson(x, 5, keys[i]))
    with pytest.raises(ValueError, match="rng must be 'hash' or 'threefry'"):
        encoding.poisson(x, 5, keys[0], rng="philox")
    with pytest.raises(ValueError, match="at most 2\\*\\*32 - 1 values"):
        encoding.poisson(jnp.zeros(2 ** 16), 2 ** 16, keys[0])
