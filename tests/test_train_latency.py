"""first_spike_current against the dense product of the spike train, values and gradients,
through the compiled FFI kernels and the pure-JAX reference."""

import shutil

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev
from brainsim import train
from brainsim.train import _latency_kernel

T, B, N, H = 9, 6, 13, 5
RNG = np.random.default_rng(0)
STEPS = RNG.integers(0, T + 3, size=(B, N)).astype(np.int32)   # >= T: never spikes
STEPS[0, :4] = 2                                                # several spikes at one step
W = RNG.normal(size=(N, H)).astype(np.float32)
G = RNG.normal(size=(T, B, H)).astype(np.float32)


def spike_train(steps):
    s = np.zeros((T, B, N), np.float32)
    for b in range(B):
        for i in range(N):
            if steps[b, i] < T:
                s[steps[b, i], b, i] = 1.0
    return s


def dense_loss(w):
    return jnp.sum(G * jnp.einsum("tbi,ih->tbh", spike_train(STEPS), w))


@pytest.fixture(params=["cpu_kernel", "jax"])
def path(request):
    """The compiled FFI kernels or the pure-JAX reference (both must be exact)."""
    if request.param == "cpu_kernel" and not _latency_kernel.built("float32"):
        if shutil.which("c++") is None and shutil.which("g++") is None:
            pytest.skip("no C++ compiler on this machine, so the optional kernels cannot exist")
        pytest.fail("the latency kernels are not built (or the build is stale) although a "
                    "compiler exists; run "
                    "`pip install -e .` or `python setup.py build_ext --inplace`", pytrace=False)
    ev.set_backend(request.param)
    yield request.param
    ev.set_backend("auto")


@pytest.mark.parametrize("use_jit", [False, True], ids=["eager", "jit"])
def test_current_and_gradient_equal_dense_product(path, use_jit):
    fn = lambda w: train.first_spike_current(STEPS, w, T)
    if use_jit:
        fn = jax.jit(fn)
    ref = np.einsum("tbi,ih->tbh", spike_train(STEPS), W)
    np.testing.assert_allclose(fn(W), ref, rtol=1e-5, atol=1e-5)
    grad = jax.grad(lambda w: jnp.sum(G * fn(w)))(W)
    np.testing.assert_allclose(grad, jax.grad(dense_loss)(W), rtol=1e-5, atol=1e-5)


def test_first_spike_steps_roundtrip_and_quantity_weight():
    steps = np.where(STEPS < T, STEPS, T)
    np.testing.assert_array_equal(train.first_spike_steps(spike_train(STEPS)), steps)
    out = train.first_spike_current(STEPS, W * u.nA, T)
    assert out.unit == u.nA
    np.testing.assert_allclose(out.mantissa, train.first_spike_current(STEPS, W, T))


@pytest.mark.parametrize("call, exc, match", [
    (lambda: train.first_spike_current(STEPS.astype(np.float32), W, T), TypeError,
     "steps must be integer time steps"),
    (lambda: train.first_spike_current(STEPS, W[:-1], T), ValueError, r"weight \(12, 5\)"),
    (lambda: train.first_spike_current(STEPS, W, 0), ValueError, "num_steps must be a positive"),
    (lambda: train.first_spike_steps(np.zeros((3, 4))), ValueError, r"shape \(T, B, N\)"),
])
def test_bad_inputs_are_explained(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# --------------------------------------------------------------------------- compiled kernels
def loop_current(steps, w, num_steps):
    """Python loop in the kernel's order (inputs ascending): the same additions, so bit-exact."""
    out = np.zeros((num_steps, steps.shape[0], w.shape[1]), w.dtype)
    for b in range(steps.shape[0]):
        for i in range(steps.shape[1]):
            if 0 <= steps[b, i] < num_steps:
                out[steps[b, i], b] += w[i]
    return out


def loop_grad(steps, g):
    """dL/dW as a Python loop, samples ascending (the kernel's order)."""
    num_steps = g.shape[0]
    dw = np.zeros((steps.shape[1], g.shape[2]), g.dtype)
    for b in range(steps.shape[0]):
        for i in range(steps.shape[1]):
            if 0 <= steps[b, i] < num_steps:
                dw[i] += g[steps[b, i], b]
    return dw


def random_case(seed, dtype, n_batch, activity, n_in=11, n_out=7, num_steps=6):
    """Steps with a fraction `activity` of inputs spiking; the rest beyond T or negative."""
    rng = np.random.default_rng(seed)
    steps = rng.integers(0, num_steps, size=(n_batch, n_in))
    silent = rng.random((n_batch, n_in)) >= activity
    steps = np.where(silent, rng.choice([-3, -1, num_steps, num_steps + 5], size=steps.shape), steps)
    w = rng.normal(size=(n_in, n_out)).astype(dtype)
    g = rng.normal(size=(num_steps, n_batch, n_out)).astype(dtype)
    return steps.astype(np.int32), w, g


TOL = {"float32": 1e-5, "float64": 1e-12}   # kernel vs the dense product (different sum order)
CASES = [(dtype, n_batch, activity, seed)
         for seed, (dtype, n_batch, activity) in enumerate([
             ("float32", 1, 0.0), ("float32", 1, 1.0), ("float32", 5, 0.05), ("float32", 16, 0.5),
             ("float32", 3, 1.0), ("float64", 1, 0.3), ("float64", 8, 1.0), ("float64", 4, 0.0)])]


@pytest.fixture
def kernel():
    if not (_latency_kernel.built("float32") and _latency_kernel.built("float64")):
        pytest.fail("the latency kernels are not in the built extension (missing or stale); run "
                    "`python setup.py build_ext --inplace`", pytrace=False)
    ev.set_backend("cpu_kernel")
    yield
    ev.set_backend("auto")


def _has_kernel(fn, *args):
    return "brainsim_latency" in str(jax.make_jaxpr(fn)(*args))


@pytest.mark.parametrize("dtype, n_batch, activity, seed", CASES)
def test_kernel_is_bit_exact_with_the_loop_and_matches_the_pure_jax_path(kernel, dtype, n_batch,
                                                                         activity, seed):
    with jax.enable_x64(dtype == "float64"):
        steps, w, g = random_case(seed, dtype, n_batch, activity)
        T_ = g.shape[0]
        fn = jax.jit(lambda w: train.first_spike_current(steps, w, T_))
        loss = lambda w: jnp.sum(g * fn(w))
        assert _has_kernel(fn, w) and _has_kernel(jax.grad(loss), w)
        out, dw = fn(w), jax.grad(loss)(w)
        assert out.dtype == dtype and dw.dtype == dtype
        np.testing.assert_array_equal(out, loop_current(steps, w, T_))
        np.testing.assert_array_equal(dw, loop_grad(steps, g))
        ev.set_backend("jax")
        ref = jax.jit(lambda w: train.first_spike_current(steps, w, T_))
        assert not _has_kernel(ref, w)   # a new trace of the same shapes follows set_backend
        ref_dw = jax.grad(lambda w: jnp.sum(g * ref(w)))(w)
        tol = TOL[dtype]
        np.testing.assert_allclose(out, ref(w), rtol=tol, atol=tol)
        np.testing.assert_allclose(dw, ref_dw, rtol=tol, atol=tol)


VMAPS = {
    "weights": ((0, None), lambda rng: (rng.normal(size=(3, 11, 7)), None)),
    "steps": ((None, 0), lambda rng: (None, rng.integers(-1, 8, size=(4, 5, 11)))),
    "both": ((0, 0), lambda rng: (rng.normal(size=(2, 11, 7)), rng.integers(-1, 8, size=(2, 5, 11)))),
}


@pytest.mark.parametrize("what", VMAPS)
def test_vmap_is_one_kernel_call_and_equals_the_pure_jax_path(kernel, what):
    rng = np.random.default_rng(1)
    axes, make = VMAPS[what]
    steps0, w0, g0 = random_case(2, "float32", 5, 0.5)
    ws, ss = make(rng)
    w = w0 if ws is None else ws.astype(np.float32)
    s = steps0 if ss is None else ss.astype(np.int32)
    g = jnp.asarray(g0)

    def value_and_grad(w, s):
        return jax.value_and_grad(lambda w: jnp.sum(jnp.tanh(train.first_spike_current(s, w, 6)) * g))(w)

    batched = jax.jit(jax.vmap(value_and_grad, in_axes=axes))
    jaxpr = str(jax.make_jaxpr(batched)(w, s))
    # one scatter forward and one gather backward for the whole batch: no per-lane calls
    assert jaxpr.count("brainsim_latency_scatter") == 1 and jaxpr.count("brainsim_latency_gather") == 1
    got = batched(w, s)
    ev.set_backend("jax")
    want = jax.jit(jax.vmap(value_and_grad, in_axes=axes))(w, s)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_nested_vmap_walks_two_lane_dimensions(kernel):
    rng = np.random.default_rng(3)
    ws = rng.normal(size=(3, 11, 7)).astype(np.float32)
    ss = rng.integers(-1, 8, size=(2, 5, 11)).astype(np.int32)
    f = jax.vmap(jax.vmap(lambda w, s: train.first_spike_current(s, w, 6), in_axes=(0, None)),
                 in_axes=(None, 0))
    out = f(ws, ss)
    assert out.shape == (2, 3, 6, 5, 7)
    for j in range(2):
        for k in range(3):
            np.testing.assert_array_equal(out[j, k], loop_current(ss[j], ws[k], 6))
    g = rng.normal(size=(6, 5, 7)).astype(np.float32)
    gb = jax.vmap(jax.vmap(_latency_kernel.gather_p.bind, in_axes=(None, 0)), in_axes=(0, None))(
        ss, np.stack([g, 2 * g]))
    for j in range(2):
        np.testing.assert_array_equal(gb[j, 1], loop_grad(ss[j], 2 * g))


def test_other_dtypes_and_the_jax_backend_use_the_reference(kernel):
    steps, w, g = random_case(4, "float32", 3, 0.7)
    w16 = jnp.asarray(w, jnp.bfloat16)
    fn = lambda w: train.first_spike_current(steps, w, 6)
    assert not _has_kernel(fn, w16) and _has_kernel(fn, w)
    np.testing.assert_allclose(np.asarray(fn(w16), np.float32),
                               loop_current(steps, np.asarray(w16, np.float32), 6), rtol=2e-2, atol=2e-2)
    ev.set_backend("jax")
    assert not _has_kernel(lambda w: train.first_spike_current(steps, w, 6), w)   # a new trace
