"""first_spike_current against the dense product of the spike train, values and gradients."""

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim import train
from brainsim.train import _latency

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


@pytest.fixture(params=["kernels", "xla"])
def path(request, monkeypatch):
    if request.param == "kernels":
        # numba is a declared dependency: its absence is a broken install, not a skip
        assert _latency._numba is not None, "numba (a brainsim dependency) failed to import"
    else:
        monkeypatch.setattr(_latency, "_use_kernels", lambda: False)
    return request.param


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
