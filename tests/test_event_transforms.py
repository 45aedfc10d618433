"""Event products under composed transforms, on both backends, against the dense product.

``grad(vmap(...))`` once failed for every format ("Transpose rule for 'stop_gradient'"), and
``linear_transpose`` failed on the compiled kernel; each case here compares the event-driven
result with the same transform of the dense ``todense()`` product.
"""
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
import brainsim.event as ev
from brainsim import layers

# over 16 rows on both sides, so the event-driven scatter picks its capacity with lax.switch
# (with a batched index under vmap: the construct that broke reverse mode)
M_, N_, V_ = 24, 20, 3
TOL = dict(rtol=1e-4, atol=1e-5)  # float32 sums of a handful of terms


def _csr(rng):
    W = ((rng.random((M_, N_)) < 0.4) * rng.normal(size=(M_, N_))).astype(np.float32)
    W[2] = 0  # an empty row
    return ev.CSR.from_dense(W)


def _csc(rng):
    return ev.CSC.from_dense(((rng.random((M_, N_)) < 0.4) * rng.normal(size=(M_, N_))).astype(np.float32))


def _fixed_pre(rng):
    idx = np.stack([rng.choice(N_, 3, replace=False) for _ in range(M_)])
    return ev.FixedNumPerPre((rng.normal(size=(M_, 3)).astype(np.float32), idx), shape=(M_, N_))


def _fixed_post(rng):
    idx = np.stack([rng.choice(M_, 3, replace=False) for _ in range(N_)])
    return ev.FixedNumPerPost((rng.normal(size=(N_, 3)).astype(np.float32), idx), shape=(M_, N_))


FORMATS = {
    "csr": _csr, "csc": _csc, "fixed_pre": _fixed_pre, "fixed_post": _fixed_post,
    "csr_scalar": lambda rng: ev.CSR.from_coo(*np.nonzero(rng.random((M_, N_)) < 0.4), 0.7, shape=(M_, N_)),
    "jitc_scalar_r": lambda rng: ev.JITCScalarR((0.8, 0.4, 3), shape=(M_, N_)),
    "jitc_scalar_c": lambda rng: ev.JITCScalarC((0.8, 0.4, 3), shape=(M_, N_)),
    "jitc_normal_r": lambda rng: ev.JITCNormalR((0.5, 0.2, 0.4, 4), shape=(M_, N_)),
    "jitc_normal_c": lambda rng: ev.JITCNormalC((0.5, 0.2, 0.4, 4), shape=(M_, N_)),
    "jitc_uniform_r": lambda rng: ev.JITCUniformR((-0.1, 0.4, 0.5, 5), shape=(M_, N_)),
    "jitc_uniform_c": lambda rng: ev.JITCUniformC((-0.1, 0.4, 0.5, 5), shape=(M_, N_)),
}
# formats with a compiled kernel, and the side that is event-driven for them
KERNEL = {"csr": "left", "csr_scalar": "left", "fixed_pre": "left", "csc": "right", "fixed_post": "right",
          **{f"jitc_{k}_{lay}": ("left" if lay == "r" else "right")
             for k in ("scalar", "normal", "uniform") for lay in ("r", "c")}}
# compile-bound (a few seconds per case): a representative set runs by default, the rest is slow
FAST = {"csr", "fixed_post", "jitc_normal_r", "jitc_uniform_c"}


def _cases(fast):
    return [pytest.param(f, b, marks=() if f in fast else pytest.mark.slow)
            for f in FORMATS for b in (("cpu_kernel", "jax") if f in KERNEL else ("jax",))]


CASES = _cases(FAST)


@pytest.fixture
def backend(request):
    name = request.param
    if name == "cpu_kernel" and not ev.kernels_available():
        pytest.fail("the compiled kernel is not built; run `python setup.py build_ext --inplace`")
    ev.set_backend(name)
    yield name
    ev.set_backend("auto")


def _theta_fn(M):
    """The float leaves of M (its weights) and a function rebuilding M from new ones."""
    leaves, tree = jax.tree_util.tree_flatten(M)
    nf = sum(1 for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating))

    def rebuild(th):
        return jax.tree_util.tree_unflatten(tree, list(th) + leaves[nf:])
    return list(leaves[:nf]), rebuild


def _data(fmt):
    rng = np.random.default_rng(zlib.crc32(fmt.encode()))  # stable across Python runs
    M = FORMATS[fmt](rng)
    S = (rng.random((V_, M_)) < 0.4).astype(np.float32)   # spikes, one row per vmapped example
    T = (rng.random((V_, N_)) < 0.4).astype(np.float32)
    X = rng.normal(size=(V_, M_)).astype(np.float32)
    Y = rng.normal(size=(V_, N_)).astype(np.float32)
    C = rng.normal(size=(V_, N_)).astype(np.float32)     # cotangent weights of the left products
    D = rng.normal(size=(V_, M_)).astype(np.float32)     # ... and of the right products
    return M, S, T, X, Y, C, D


def _products(event):
    """The four product forms on one example; event=False is the dense reference."""
    if event:
        return (lambda A, s: ev.BinaryArray(s) @ A, lambda A, x: x @ A,
                lambda A, t: A @ ev.BinaryArray(t), lambda A, y: A @ y)
    return (lambda A, s: s @ A.todense(), lambda A, x: x @ A.todense(),
            lambda A, t: A.todense() @ t, lambda A, y: A.todense() @ y)


def _loss(rebuild, event, S, T, X, Y, C, D):
    left_s, left_x, right_t, right_y = _products(event)

    def loss(th):
        A = rebuild(th)
        per = jax.vmap(lambda s, t, x, y, c, d: jnp.sum(c * (left_s(A, s) + left_x(A, x)))
                       + jnp.sum(d * (right_t(A, t) + right_y(A, y))))(S, T, X, Y, C, D)
        return jnp.sum(per ** 2)
    return loss


@pytest.mark.parametrize("fmt,backend", CASES, indirect=["backend"])
def test_grad_and_jacrev_of_vmap_match_dense(fmt, backend):
    M, S, T, X, Y, C, D = _data(fmt)
    th, rebuild = _theta_fn(M)
    # jitted: one compilation per transform instead of one per eager op
    grad = jax.jit(jax.grad(_loss(rebuild, True, S, T, X, Y, C, D)))
    assert "cond[" in str(jax.make_jaxpr(grad)(th))
    g = grad(th)
    gd = jax.jit(jax.grad(_loss(rebuild, False, S, T, X, Y, C, D)))(th)
    for a, b in zip(g, gd):
        assert float(jnp.max(jnp.abs(b))) > 0
        np.testing.assert_allclose(a, b, **TOL)
    # per-example Jacobian of the vmapped event product
    side = KERNEL.get(fmt, "left")
    if side == "left":
        f = lambda ev_, th: jax.vmap(lambda s: _products(ev_)[0](rebuild(th), s))(S)
    else:
        f = lambda ev_, th: jax.vmap(lambda t: _products(ev_)[2](rebuild(th), t))(T)
    jac = jax.jit(jax.jacrev(lambda th: f(True, th)))
    J, Jd = jac(th), jax.jit(jax.jacrev(lambda th: f(False, th)))(th)
    for a, b in zip(J, Jd):
        np.testing.assert_allclose(a, b, **TOL)
    # the gradient program calls the compiled kernel exactly when that backend is selected
    text = grad.lower(th).as_text()
    called = any(t in text for t in ("brainsim_csr_scatter", "brainsim_csr_gather", "brainsim_jitc"))
    assert called == (backend == "cpu_kernel")


@pytest.mark.parametrize("fmt,backend", _cases({"csr"}), indirect=["backend"])
def test_per_example_weights_and_gradients_match_dense(fmt, backend):
    """vmap over the weights too (hyperparameter sweeps), and vmap(grad) (per-example gradients)."""
    M, S, T, X, Y, C, D = _data(fmt)
    th, rebuild = _theta_fn(M)
    TH = [jnp.stack([t * (1.0 + 0.5 * k) for k in range(V_)]) for t in th]

    def run(event):
        left_s, _, right_t, _ = _products(event)

        def one(th, s, t, c, d):
            A = rebuild(th)
            return jnp.sum(c * left_s(A, s)) * jnp.sum(d * right_t(A, t))
        sweep = jax.grad(lambda TH: jnp.sum(jax.vmap(one)(TH, S, T, C, D)))
        per_example = jax.vmap(jax.grad(one), in_axes=(None, 0, 0, 0, 0))
        return jax.jit(lambda: (sweep(TH), per_example(th, S, T, C, D)))()

    for a, b in zip(jax.tree.leaves(run(True)), jax.tree.leaves(run(False))):
        np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize("fmt,backend", CASES, indirect=["backend"])
def test_linear_transpose_matches_dense(fmt, backend):
    M, S, T, X, Y, C, D = _data(fmt)
    W = np.asarray(M.todense())
    th, rebuild = _theta_fn(M)

    def transposes(event):
        A = (lambda th: rebuild(th)) if event else (lambda th: rebuild(th).todense())
        spk = ev.BinaryArray if event else (lambda s: s)
        return (
            # in the float operand: one example, and a vmapped batch
            jax.linear_transpose(lambda x: x @ M if event else x @ W, X[0])(C[0]),
            jax.linear_transpose(lambda y: M @ y if event else W @ y, Y[0])(D[0]),
            jax.linear_transpose(jax.vmap(lambda x: x @ M if event else x @ W), X)(C),
            # in the weights, with spikes on either side
            jax.linear_transpose(lambda th: jax.vmap(lambda s: spk(s) @ A(th))(S), th)(C),
            jax.linear_transpose(lambda th: jax.vmap(lambda t: A(th) @ spk(t))(T), th)(D),
        )

    got, want = jax.jit(lambda: transposes(True))(), transposes(False)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(got[0][0], W @ C[0], **TOL)  # and against the explicit transpose


def test_linear_transpose_in_spikes_is_refused():
    ev.set_backend("cpu_kernel" if ev.kernels_available() else "jax")
    try:
        M = _csr(np.random.default_rng(0))
        with pytest.raises(ValueError, match="not linear in the spikes"):
            jax.linear_transpose(lambda s: ev.BinaryArray(s) @ M, np.ones(M_, np.float32))(np.ones(N_, np.float32))
    finally:
        ev.set_backend("auto")


@pytest.mark.parametrize("backend", ["cpu_kernel", "jax"], indirect=True)
def test_brainsim_grad_of_vmap_through_event_fixed_prob(backend):
    rng = np.random.default_rng(7)
    layer = layers.EventFixedProb(M_, N_, prob=0.5, seed=3,
                                  weight=lambda shape: jnp.asarray(rng.normal(size=shape), jnp.float32))
    S = jnp.asarray(rng.random((V_, M_)) < 0.4, jnp.float32)
    C = jnp.asarray(rng.normal(size=(V_, N_)), jnp.float32)

    def loss():
        return jnp.sum((brainsim.vmap(lambda s: layer(s))(S) * C) ** 2)

    g = brainsim.grad(loss, {"w": layer.weight})()["w"]
    w = layer.weight.value
    gd = jax.grad(lambda w: jnp.sum(((S @ layer.conn.with_data(w).todense()) * C) ** 2))(w)
    assert float(jnp.max(jnp.abs(gd))) > 0
    np.testing.assert_allclose(g, gd, **TOL)


@pytest.mark.parametrize("backend", ["cpu_kernel", "jax"], indirect=True)
def test_grad_of_vmap_through_dense_event_product(backend):
    """BinaryArray @ dense W: the pure-JAX form picks its capacity with lax.switch once W has
    over 128 rows (a conditional in the compiled program); the kernel replaces it."""
    rng = np.random.default_rng(8)
    W = jnp.asarray(rng.normal(size=(200, 5)), jnp.float32)
    S = jnp.asarray(rng.random((V_, 200)) < 0.05, jnp.float32)
    C = jnp.asarray(rng.normal(size=(V_, 5)), jnp.float32)
    loss = lambda W, S, event: jnp.sum((jax.vmap(lambda s: (ev.BinaryArray(s) if event else s) @ W)(S) * C) ** 2)
    hlo = jax.jit(jax.grad(loss), static_argnums=2).lower(W, S, True).as_text()
    assert ("brainsim_dense_events" in hlo) == (backend == "cpu_kernel")
    assert ("stablehlo.case" in hlo) == (backend == "jax")
    np.testing.assert_allclose(jax.grad(loss)(W, S, True), jax.grad(loss)(W, S, False), **TOL)
