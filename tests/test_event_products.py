"""Every format and product form against the dense product of ``todense()``."""
import zlib
import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import brainsim.event as ev


def _csr(rng, m, n):
    W = ((rng.random((m, n)) < 0.3) * rng.normal(size=(m, n))).astype(np.float32)
    if m > 2:
        W[1] = 0  # an empty row
    return ev.CSR.from_dense(W)


def _csr_scalar(rng, m, n):
    pre, post = np.nonzero(rng.random((m, n)) < 0.3)
    return ev.CSR.from_coo(pre, post, 0.7, shape=(m, n))


def _csc(rng, m, n):
    return ev.CSC.from_dense(((rng.random((m, n)) < 0.3) * rng.normal(size=(m, n))).astype(np.float32))


def _fpre(rng, m, n):
    k = min(n, 3)
    idx = np.stack([rng.choice(n, k, replace=False) for _ in range(m)]).reshape(m, k)
    return ev.FixedNumPerPre((rng.normal(size=(m, k)).astype(np.float32), idx), shape=(m, n))


def _fpre_scalar(rng, m, n):
    idx = rng.integers(0, n, (m, 2))
    return ev.FixedNumPerPre((1.5, idx), shape=(m, n))


def _fpost(rng, m, n):
    k = min(m, 3)
    idx = np.stack([rng.choice(m, k, replace=False) for _ in range(n)]).reshape(n, k)
    return ev.FixedNumPerPost((rng.normal(size=(n, k)).astype(np.float32), idx), shape=(m, n))


FORMATS = {
    "csr": _csr, "csr_scalar": _csr_scalar, "csc": _csc, "fixed_pre": _fpre,
    "fixed_pre_scalar": _fpre_scalar, "fixed_post": _fpost,
    "jitc_scalar_r": lambda rng, m, n: ev.JITCScalarR((0.8, 0.3, 3), shape=(m, n)),
    "jitc_scalar_c": lambda rng, m, n: ev.JITCScalarC((0.8, 0.3, 3), shape=(m, n)),
    "jitc_normal_r": lambda rng, m, n: ev.JITCNormalR((0.5, 0.2, 0.3, 4), shape=(m, n)),
    "jitc_normal_c": lambda rng, m, n: ev.JITCNormalC((0.5, 0.2, 0.3, 4), shape=(m, n)),
    "jitc_uniform_r": lambda rng, m, n: ev.JITCUniformR((-0.1, 0.4, 0.5, 5), shape=(m, n)),
    "jitc_uniform_c": lambda rng, m, n: ev.JITCUniformC((-0.1, 0.4, 0.5, 5), shape=(m, n)),
}
EDGE_FORMATS = ["csr", "csc", "fixed_pre", "fixed_post", "jitc_scalar_r", "jitc_normal_c"]
CASES = [(f, (17, 13)) for f in FORMATS] + [(f, s) for f in EDGE_FORMATS for s in [(1, 9), (9, 1)]]
# the full gradient battery compiles ~10 programs per format: a representative set runs by default
FAST_GRAD = {"csr", "fixed_post", "jitc_normal_r", "jitc_uniform_c"}
GRAD_FORMATS = [f if f in FAST_GRAD else pytest.param(f, marks=pytest.mark.slow) for f in FORMATS]
ACTIVITY = [0.0, 0.2, 1.0]


def _spikes(rng, m, act, batch=None):
    shp = (m,) if batch is None else (batch, m)
    return (rng.random(shp) < act).astype(np.float32)


@pytest.mark.parametrize("fmt,shape", CASES)
def test_products_match_dense(fmt, shape):
    # a stable seed per case (str hashes change between Python runs)
    rng = np.random.default_rng(zlib.crc32(f"{fmt}{shape}".encode()))
    m, n = shape
    M = FORMATS[fmt](rng, m, n)
    W = np.asarray(M.todense())
    assert W.shape == (m, n)
    for act in ACTIVITY:
        s = _spikes(rng, m, act)
        np.testing.assert_allclose(ev.BinaryArray(s) @ M, s @ W, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ev.BinaryArray(s.astype(bool)) @ M, s @ W, rtol=1e-5, atol=1e-5)
        t = _spikes(rng, n, act)
        np.testing.assert_allclose(M @ ev.BinaryArray(t), W @ t, rtol=1e-5, atol=1e-5)
    x = rng.normal(size=m).astype(np.float32)
    y = rng.normal(size=n).astype(np.float32)
    np.testing.assert_allclose(x @ M, x @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(M @ y, W @ y, rtol=1e-5, atol=1e-5)
    X = rng.normal(size=(4, m)).astype(np.float32)
    Y = rng.normal(size=(n, 3)).astype(np.float32)
    np.testing.assert_allclose(X @ M, X @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(M @ Y, W @ Y, rtol=1e-5, atol=1e-5)
    S = _spikes(rng, m, 0.3, 5)
    np.testing.assert_allclose(ev.BinaryArray(S) @ M, S @ W, rtol=1e-5, atol=1e-5)
    # transpose agrees with the dense transpose, both ways
    np.testing.assert_allclose(M.T.todense(), W.T, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(y @ M.T, y @ W.T, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_jit_vmap_pytree(fmt):
    rng = np.random.default_rng(1)
    M = FORMATS[fmt](rng, 23, 19)
    W = np.asarray(M.todense())
    S = _spikes(rng, 23, 0.25, 6)
    f = jax.jit(lambda s, M: ev.BinaryArray(s) @ M)  # matrix passed as a traced pytree argument
    np.testing.assert_allclose(f(S[0], M), ev.BinaryArray(S[0]) @ M, rtol=1e-6, atol=1e-6)
    vm = jax.vmap(lambda s: ev.BinaryArray(s) @ M)(S)
    loop = np.stack([np.asarray(ev.BinaryArray(s) @ M) for s in S])
    np.testing.assert_allclose(vm, loop, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(vm, S @ W, rtol=1e-5, atol=1e-5)
    Y = rng.normal(size=(4, 19)).astype(np.float32)
    np.testing.assert_allclose(jax.vmap(lambda y: M @ y)(Y), Y @ W.T, rtol=1e-5, atol=1e-5)
    # the batched rule contains no loop over the batch
    jaxpr = str(jax.make_jaxpr(jax.vmap(lambda s: ev.BinaryArray(s) @ M))(S))
    assert "while" not in jaxpr


def _theta_fn(M):
    leaves, tree = jax.tree_util.tree_flatten(M)
    nf = sum(1 for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating))
    th = leaves[:nf]

    def rebuild(th):
        return jax.tree_util.tree_unflatten(tree, list(th) + leaves[nf:])
    return th, rebuild


@pytest.mark.parametrize("fmt", GRAD_FORMATS)
def test_gradients(fmt):
    rng = np.random.default_rng(2)
    M = FORMATS[fmt](rng, 11, 7)
    th, rebuild = _theta_fn(M)
    x = rng.normal(size=11).astype(np.float32)
    y = rng.normal(size=7).astype(np.float32)
    s = _spikes(rng, 11, 0.4)
    # jitted so each transform compiles once (check_grads calls the function many times)
    check_grads(jax.jit(lambda th, x: x @ rebuild(th)), (th, x), order=1, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)
    check_grads(jax.jit(lambda th, y: rebuild(th) @ y), (th, y), order=1, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)
    check_grads(jax.jit(lambda th: ev.BinaryArray(s) @ rebuild(th)), (th,), order=1, modes=["fwd", "rev"],
                atol=1e-2, rtol=1e-2)
    # against the gradient of the dense function of the same weights
    c = rng.normal(size=7).astype(np.float32)
    g = jax.grad(lambda th, x: jnp.sum(c * (x @ rebuild(th))), argnums=(0, 1))(th, x)
    gd = jax.grad(lambda th, x: jnp.sum(c * (x @ rebuild(th).todense())), argnums=(0, 1))(th, x)
    for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(gd)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_binary_straight_through_gradient(fmt):
    rng = np.random.default_rng(3)
    M = FORMATS[fmt](rng, 12, 8)
    W = np.asarray(M.todense())
    s = _spikes(rng, 12, 0.5)
    c = rng.normal(size=8).astype(np.float32)
    g = jax.grad(lambda s: jnp.sum(c * (ev.BinaryArray(s) @ M)))(s)
    np.testing.assert_allclose(g, W @ c, rtol=1e-5, atol=1e-5)


def test_binary_dense_weights():
    rng = np.random.default_rng(4)
    W = rng.normal(size=(30, 20)).astype(np.float32)
    for act in ACTIVITY:
        s = _spikes(rng, 30, act)
        np.testing.assert_allclose(ev.BinaryArray(s) @ W, s @ W, rtol=1e-5, atol=1e-5)
        t = _spikes(rng, 20, act)
        np.testing.assert_allclose(W @ ev.BinaryArray(t), W @ t, rtol=1e-5, atol=1e-5)
    S = _spikes(rng, 30, 0.3, 4)
    np.testing.assert_allclose(ev.BinaryArray(S) @ W, S @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.jit(lambda s, W: ev.BinaryArray(s) @ W)(S[0], W), S[0] @ W, rtol=1e-5)
    check_grads(lambda W: ev.BinaryArray(S) @ W, (W,), order=1, modes=["fwd", "rev"], atol=1e-2, rtol=1e-2)
    c = rng.normal(size=20).astype(np.float32)
    g = jax.grad(lambda s: jnp.sum(c * (ev.BinaryArray(s) @ W)))(S[0])
    np.testing.assert_allclose(g, W @ c, rtol=1e-5)


# W @ spikes: (spike dtype, batch); a float spike of 0.5 is one event, as on the left side
RIGHT_CASES = [(np.float32, None), (np.float32, 5), (np.bool_, None), (np.bool_, 5)]


@pytest.mark.parametrize("dtype,batch", RIGHT_CASES)
def test_dense_weights_times_spikes(dtype, batch):
    rng = np.random.default_rng(6)
    W = rng.normal(size=(11, 9)).astype(np.float32)
    shape = (9,) if batch is None else (9, batch)
    mask = rng.random(shape) < 0.4
    t = (mask * rng.choice([0.5, 1.0, -2.0], size=shape)).astype(dtype)
    ref = W.astype(np.float64) @ mask
    f = lambda W, t: W @ ev.BinaryArray(t)
    np.testing.assert_allclose(f(W, t), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.jit(f)(W, t), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jax.vmap(lambda W: f(W, t))(np.stack([W, 2 * W])),
                               np.stack([ref, 2 * ref]), rtol=1e-5, atol=1e-5)
    c = rng.normal(size=ref.shape).astype(np.float32)
    gW = jax.grad(lambda W: jnp.sum(c * f(W, t)))(W)
    np.testing.assert_allclose(gW, c.reshape(11, -1) @ mask.reshape(9, -1).T.astype(np.float32),
                               rtol=1e-5, atol=1e-5)
    if dtype is np.float32:  # straight-through: the float product's derivative in the spikes
        gt = jax.grad(lambda t: jnp.sum(c * f(W, t)))(t)
        np.testing.assert_allclose(gt, W.T @ c, rtol=1e-5, atol=1e-5)
    # not linear in the spikes: refused, as on the left side (traced as jnp ops it gave zeros)
    with pytest.raises(ValueError, match="not linear in the spikes"):
        jax.linear_transpose(lambda t: f(W, t), t.astype(np.float32))(c)
    # no copy of W per call: the transposed gather it replaced was 17-19x the dense product
    hlo = jax.jit(f).lower(W, t).compile().as_text()
    assert "transpose(" not in hlo


@pytest.mark.parametrize("fmt", ["csr", "fixed_pre", "jitc_normal_r", "fixed_post"])
def test_units_pass_through(fmt):
    rng = np.random.default_rng(5)
    M = FORMATS[fmt](rng, 10, 6)
    W = np.asarray(M.todense())
    leaves, tree = jax.tree_util.tree_flatten(M)
    if fmt.startswith("jitc"):
        Mq = ev.JITCNormalR((0.5 * u.nS, 0.2 * u.nS, 0.3, 4), shape=(10, 6))
    else:
        Mq = M.with_data(M.weight * u.nS)
    s = _spikes(rng, 10, 0.5)
    out = ev.BinaryArray(s) @ Mq
    assert isinstance(out, u.Quantity) and out.unit == u.nS
    np.testing.assert_allclose(out.to_decimal(u.nS), s @ W, rtol=1e-5, atol=1e-6)
    v = rng.normal(size=6).astype(np.float32) * u.mV
    out2 = Mq @ v
    assert out2.unit == u.nS * u.mV
    assert Mq.todense().unit == u.nS


def test_jitc_layouts_agree_and_row_density():
    R = ev.JITCScalarR((1.0, 0.05, 7), shape=(200, 300))
    C = R.T
    assert type(C).__name__ == "JITCScalarC" and C.shape == (300, 200)
    np.testing.assert_array_equal(np.asarray(C.todense()), np.asarray(R.todense()).T)
    D = np.asarray(R.todense())
    mean_row = (D != 0).sum(1).mean()
    assert abs(mean_row - 0.05 * 300) < 4 * np.sqrt(0.05 * 300 / 200) + 0.5
    other = ev.JITCScalarR((1.0, 0.05, 8), shape=(200, 300))
    assert not np.array_equal(np.asarray(other.todense()), D)
