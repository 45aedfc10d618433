"""Every documented bad input raises TypeError/ValueError with a message naming it."""
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
