"""Every documented bad input raises TypeError/ValueError with a message naming it."""
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev


def test_shape_mismatch_names_both_shapes():
    M = ev.CSR.from_dense(np.eye(4, 3, dtype=np.float32))
    with pytest.raises(ValueError, match=r"x has shape \(5,\) but M has shape \(4, 3\)"):
        np.ones(5, np.float32) @ M
    with pytest.raises(ValueError, match=r"M has shape \(4, 3\) but x has shape \(4,\)"):
        M @ np.ones(4, np.float32)
    with pytest.raises(ValueError, match=r"spikes have shape \(2,\), W has shape \(3, 3\)"):
        ev.BinaryArray(np.ones(2)) @ np.ones((3, 3))
    J = ev.JITCScalarR((1.0, 0.1, 0), shape=(6, 7))
    with pytest.raises(ValueError, match=r"x has shape \(7,\) but M has shape \(6, 7\)"):
        ev.BinaryArray(np.ones(7)) @ J


def test_prob_and_num_ranges():
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\], got 1.5"):
        ev.random_conn(10, 10, prob=1.5)
    with pytest.raises(ValueError, match=r"prob must be in \[0, 1\], got -0.1"):
        ev.JITCScalarR((1.0, -0.1, 0), shape=(3, 3))
    with pytest.raises(ValueError, match=r"num=11 must be in \[0, 10\]"):
        ev.random_conn(5, 10, num=11, format="fixed_pre")
    with pytest.raises(ValueError, match=r"num=10 must be in \[0, 9\].*without self"):
        ev.random_conn(10, 10, num=10, allow_self=False)
    with pytest.raises(ValueError, match=r"outside \[0, 1\]"):
        ev.random_conn(10, 10, prob=lambda i, j: 2.0 + 0 * (i + j))
    with pytest.raises(ValueError, match="exactly one of prob= or num="):
        ev.random_conn(10, 10)


def test_bad_indices_python_data():
    with pytest.raises(ValueError, match=r"index 5 out of range \[0, 4\)"):
        ev.CSR((1.0, np.array([0, 5]), np.array([0, 1, 2])), shape=(2, 4))
    with pytest.raises(ValueError, match="sorted within each row"):
        ev.CSR((1.0, np.array([2, 1]), np.array([0, 2, 2])), shape=(2, 4))
    with pytest.raises(ValueError, match=r"indptr must have shape \(3,\)"):
        ev.CSR((1.0, np.array([0]), np.array([0, 1])), shape=(2, 4))
    with pytest.raises(ValueError, match=r"index 9 out of range \[0, 4\)"):
        ev.FixedNumPerPre((1.0, np.array([[0, 9]])), shape=(1, 4))
    with pytest.raises(ValueError, match=r"index 3 out of range \[0, 2\)"):
        ev.FixedNumPerPost((1.0, np.array([[3], [0], [1]])), shape=(2, 3))
    with pytest.raises(TypeError, match="indices must be an integer array"):
        ev.CSR((1.0, np.array([0.0]), np.array([0, 1])), shape=(1, 4))
    with pytest.raises(ValueError, match=r"pre index out of range"):
        ev.CSR.from_coo([0, 3], [0, 1], shape=(2, 2))


def test_bad_indices_traced_with_validate():
    def build(ind):
        M = ev.CSR((1.0, ind, jnp.array([0, 1, 2])), shape=(2, 4), validate=True)
        return M.indices.sum()
    assert int(jax.jit(build)(jnp.array([0, 3]))) == 3
    with pytest.raises(Exception, match=r"index 7 out of range \[0, 4\)"):
        jax.block_until_ready(jax.jit(build)(jnp.array([0, 7])))


def test_seed_must_be_integer():
    with pytest.raises(TypeError, match=r"seed must be an integer scalar, got 1.5"):
        ev.JITCNormalR((0.0, 1.0, 0.1, 1.5), shape=(3, 3))
    with pytest.raises(TypeError, match="seed must be an integer, got 0.5"):
        ev.random_conn(3, 3, prob=0.1, seed=0.5)


def test_gradient_wrt_integer_structure_is_an_error():
    M = ev.CSR.from_dense(np.eye(3, dtype=np.float32))
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match=r"grad requires real- or complex-valued inputs.*int32"):
        jax.grad(lambda ind: jnp.sum(x @ ev.CSR((M.data, ind, M.indptr), shape=(3, 3))))(M.indices)
    with pytest.raises(TypeError, match=r"grad requires real- or complex-valued inputs.*int32"):
        jax.grad(lambda ptr: jnp.sum(x @ ev.CSR((M.data, M.indices, ptr), shape=(3, 3))))(M.indptr)
    with pytest.raises(TypeError, match=r"grad requires real- or complex-valued inputs.*uint32"):
        jax.grad(lambda seed: jnp.sum(x @ ev.JITCScalarR((1.0, 0.5, seed), shape=(3, 3))))(jnp.uint32(3))
    # differentiating a whole matrix pytree hits its integer leaves too
    with pytest.raises(TypeError, match=r"grad requires real- or complex-valued inputs"):
        jax.grad(lambda M: jnp.sum(x @ M))(M)


@pytest.mark.parametrize("n_pre, n_post, bad", [(-3, 4, "n_pre"), (3, 2.5, "n_post"), (True, 4, "n_pre")])
def test_random_conn_sizes_must_be_non_negative_ints(n_pre, n_post, bad):
    with pytest.raises(ValueError, match=f"random_conn: {bad} must be a non-negative int"):
        ev.random_conn(n_pre, n_post, prob=0.1)


_NAN_BUILDERS = {
    "CSR": lambda w: ev.CSR((w, np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2)),
    "CSC": lambda w: ev.CSC((w, np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 2)),
    "CSR.from_dense": lambda w: ev.CSR.from_dense(w.reshape((1, 2))),
    "CSR.from_coo": lambda w: ev.CSR.from_coo([0, 1], [1, 0], w, shape=(2, 2)),
    "with_data": lambda w: ev.CSR.from_dense(np.eye(2, dtype=np.float32)).with_data(w),
    "FixedNumPerPre": lambda w: ev.FixedNumPerPre((w.reshape((2, 1)), np.array([[0], [1]])), shape=(2, 2)),
    "FixedNumPerPost": lambda w: ev.FixedNumPerPost((w.reshape((2, 1)), np.array([[0], [1]])), shape=(2, 2)),
    "JITCScalarR": lambda w: ev.JITCScalarR((w[1], 0.5, 0), shape=(2, 2)),
    "JITCNormalC": lambda w: ev.JITCNormalC((0.0 * w[0], w[1], 0.5, 0), shape=(2, 2)),
    "JITCUniformR": lambda w: ev.JITCUniformR((w[1], 2.0 * w[0], 0.5, 0), shape=(2, 2)),
}


@pytest.mark.parametrize("name", _NAN_BUILDERS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_are_refused(name, bad):
    w = np.array([1.0, bad], np.float32)
    counts = r"1 NaN and 0 infinite" if np.isnan(bad) else r"0 NaN and 1 infinite"
    with pytest.raises(ValueError, match=counts):
        _NAN_BUILDERS[name](w)
    with pytest.raises(ValueError, match=counts):
        _NAN_BUILDERS[name](w * u.nS)
    # finite data builds, and traced weights are not inspected (no concretisation error)
    _NAN_BUILDERS[name](np.array([1.0, 2.0], np.float32))
    if not name.startswith("CSR.from_"):  # those two read their input with NumPy
        jax.jit(lambda w: jax.tree.leaves(_NAN_BUILDERS[name](w))[0])(jnp.array([1.0, 2.0]))


@pytest.mark.parametrize("build", [
    lambda s: ev.CSR((1.0, np.zeros(0, int), np.zeros(1, int)), shape=s),
    lambda s: ev.CSR.from_coo([], [], shape=s),
    lambda s: ev.CSC.from_coo([], [], shape=s),
    lambda s: ev.FixedNumPerPre((1.0, np.zeros((0, 1), int)), shape=s),
    lambda s: ev.JITCScalarR((1.0, 0.1, 0), shape=s),
    lambda s: ev.JITCNormalC((0.0, 1.0, 0.1, 0), shape=s),
    lambda s: ev.JITCUniformR((0.0, 1.0, 0.1, 0), shape=s),
])
def test_negative_shapes_are_refused(build):
    with pytest.raises(ValueError, match=r"shape\[1\] must be a non-negative integer, got -3"):
        build((0, -3))
    with pytest.raises(ValueError, match=r"shape must be a pair \(m, n\)"):
        build((2, 3, 4))


def test_from_dense_needs_a_matrix():
    with pytest.raises(ValueError, match=r"CSR.from_dense: W must be a 2-D \(m, n\) array, got shape \(2, 2, 2\)"):
        ev.CSR.from_dense(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match=r"CSC.from_dense: W must be a 2-D .* got shape \(3,\)"):
        ev.CSC.from_dense(np.ones(3))


def test_builders_keep_float64_under_x64():
    # from_coo once cast float64 data to float32 while from_dense kept it
    prev = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        d = np.array([1.0 + 1e-12, 2.0])
        for M in (ev.CSR.from_coo([0, 1], [1, 0], d, shape=(2, 2)), ev.CSC.from_coo([0, 1], [1, 0], d, shape=(2, 2)),
                  ev.CSR.from_dense(np.array([[0, d[0]], [d[1], 0]]))):
            assert M.data.dtype == jnp.float64
            np.testing.assert_array_equal(np.sort(np.asarray(M.data)), d)
        assert ev.CSR.from_coo([0], [1], np.array([2.0], np.float32), shape=(2, 2)).data.dtype == jnp.float32
    finally:
        jax.config.update("jax_enable_x64", prev)
    assert ev.CSR.from_coo([0], [1], np.array([3], np.int64), shape=(2, 2)).data.dtype == jnp.float32


def test_quantity_times_sparse_matrix_keeps_both_units():
    W = np.array([[0.0, 2.0], [1.0, 0.0], [0.0, 3.0]], np.float32)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    for M in (ev.CSR.from_dense(W * u.mV), ev.CSC.from_dense(W * u.mV),
              ev.FixedNumPerPre((np.array([[2.0], [1.0], [3.0]], np.float32) * u.mV,
                                 np.array([[1], [0], [1]])), shape=(3, 2))):
        out = (x * u.nS) @ M
        assert isinstance(out, u.Quantity) and out.unit.has_same_dim(u.nS * u.mV)
        np.testing.assert_allclose(out.to_decimal(u.nS * u.mV), x @ W, rtol=1e-6)
        np.testing.assert_allclose(((x * u.nS) @ M).to_decimal(u.pA), (M.T @ (x * u.nS)).to_decimal(u.pA), rtol=1e-6)
