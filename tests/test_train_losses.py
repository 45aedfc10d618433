"""Losses, readouts, accuracy and regularisers against hand-written NumPy loops."""

import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim import train

RNG = np.random.default_rng(3)
T, B, C = 7, 5, 4
SERIES = RNG.normal(size=(T, B, C)).astype(np.float32)
SPIKES = (RNG.random((T, B, C)) < 0.3).astype(np.float32)
LABELS = RNG.integers(0, C, size=B)


def ce_ref(logits, labels):
    total = 0.0
    for b in range(logits.shape[0]):
        row = [float(v) for v in logits[b]]
        m = max(row)
        lse = m + math.log(sum(math.exp(v - m) for v in row))
        total += lse - row[labels[b]]
    return total / logits.shape[0]


def count_ref(x):
    out = np.zeros(x.shape[1:])
    for t in range(x.shape[0]):
        out += x[t]
    return out


def max_ref(x):
    out = np.full(x.shape[1:], -np.inf)
    for t in range(x.shape[0]):
        out = np.maximum(out, x[t])
    return out


def mean_ref(x):
    return count_ref(x) / x.shape[0]


READOUTS = [
    (train.spike_count, count_ref, SPIKES),
    (train.max_over_time, max_ref, SERIES),
    (train.mean_over_time, mean_ref, SERIES),
]


@pytest.mark.parametrize("fn, ref, x", READOUTS, ids=["count", "max", "mean"])
def test_readouts_match_loops(fn, ref, x):
    np.testing.assert_allclose(fn(x), ref(x), rtol=1e-6, atol=1e-6)
    # time on another axis gives the same readout
    np.testing.assert_allclose(fn(np.moveaxis(x, 0, 1), time_axis=1), ref(x), rtol=1e-6,
                               atol=1e-6)


LOSSES = [
    (train.spike_count_cross_entropy, count_ref, SPIKES),
    (train.max_membrane_cross_entropy, max_ref, SERIES),
    (train.mean_membrane_cross_entropy, mean_ref, SERIES),
]


@pytest.mark.parametrize("fn, readout, x", LOSSES, ids=["count", "max", "mean"])
def test_readout_losses_match_reference(fn, readout, x):
    expect = ce_ref(readout(x), LABELS)
    assert float(fn(x, LABELS)) == pytest.approx(expect, rel=1e-5)


def test_cross_entropy_reference_and_gradient():
    logits = SERIES[0]
    assert float(train.cross_entropy(logits, LABELS)) == pytest.approx(
        ce_ref(logits, LABELS), rel=1e-6)
    # gradient of mean CE is (softmax - onehot) / B
    g = jax.grad(train.cross_entropy)(jnp.asarray(logits), LABELS)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(B), LABELS] -= 1
    np.testing.assert_allclose(g, p / B, rtol=1e-5, atol=1e-7)


def test_membrane_quantity_is_read_by_mantissa():
    v = SERIES * u.mV
    assert float(train.max_membrane_cross_entropy(v, LABELS)) == pytest.approx(
        ce_ref(max_ref(SERIES), LABELS), rel=1e-5)


def test_accuracy_matches_loop():
    logits = SERIES[1]
    hits = sum(int(np.argmax(logits[b]) == LABELS[b]) for b in range(B))
    assert float(train.accuracy(logits, LABELS)) == pytest.approx(hits / B)


def test_regularisers_match_loops():
    l1 = 0.0
    per_neuron = np.zeros(C)
    for t in range(T):
        for b in range(B):
            for i in range(C):
                l1 += SPIKES[t, b, i]
                per_neuron[i] += SPIKES[t, b, i]
    assert float(train.l1_spike_total(SPIKES)) == pytest.approx(l1)
    assert float(train.l2_spikes_per_neuron(SPIKES)) == pytest.approx(
        sum(c * c for c in per_neuron) / C, rel=1e-6)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: train.cross_entropy(SERIES[0], LABELS.astype(np.float32)), TypeError,
     "labels must be integer class indices"),
    (lambda: train.cross_entropy(SERIES[0], LABELS[:3]), ValueError, r"expected labels of shape \(5,\)"),
    (lambda: train.cross_entropy(SERIES[0], np.full(B, C)), ValueError, r"must lie in \[0, 4\)"),
    (lambda: train.max_over_time(np.zeros(3)), ValueError, "must have a time axis"),
    (lambda: train.l2_spikes_per_neuron(np.zeros((3, 4))), ValueError, r"shape \(T, B, N...\)"),
])
def test_bad_inputs_are_explained(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ---------------------------------------------------------------- activity regularisers
def test_firing_rate_penalty_against_numpy():
    import brainunit as u
    from brainsim.train import firing_rate_penalty
    s = (np.random.default_rng(0).random((50, 4, 7)) < 0.1).astype(np.float32)
    want = np.sum((s.mean(axis=(0, 1)) - 0.02) ** 2)
    assert float(firing_rate_penalty(jnp.asarray(s), 20. * u.Hz, dt=1. * u.ms)) == \
        pytest.approx(want, rel=1e-5)
    assert float(firing_rate_penalty(jnp.asarray(s), 0.02)) == pytest.approx(want, rel=1e-5)
    # the gradient pushes each neuron's rate toward the target
    g = jax.grad(lambda x: firing_rate_penalty(x, 0.02))(jnp.asarray(s))
    np.testing.assert_allclose(g[0, 0], 2 * (s.mean(axis=(0, 1)) - 0.02) / 200, rtol=1e-5)
    with pytest.raises(ValueError, match=r"target must be a frequency"):
        firing_rate_penalty(jnp.asarray(s), 2. * u.ms)


def test_membrane_band_penalty_against_numpy():
    from brainsim.train import membrane_band_penalty
    v = np.random.default_rng(1).normal(0, 2, (30, 3, 5))
    want = np.mean(np.maximum(v - 0.4, 0) ** 2 + np.maximum(-2. - v, 0) ** 2)
    assert float(membrane_band_penalty(jnp.asarray(v, jnp.float32), -2., 0.4)) == \
        pytest.approx(want, rel=1e-5)
    assert float(membrane_band_penalty(jnp.zeros(4), -2., 0.4)) == 0.
    with pytest.raises(ValueError, match=r"low=1.0 must be below high=0.0"):
        membrane_band_penalty(jnp.zeros(4), 1., 0.)
