"""The DMS task generator: phases, shapes, labels against the directions, the von Mises
tuning against its formula, the spiking mode against the rate mode, and the checks."""
import brainunit as u
import numpy as np
import pytest

from brainsim.datasets import DMS


def small(**kw):
    args = dict(dt=10. * u.ms, t_fixation=100. * u.ms, t_sample=200. * u.ms,
                t_delay=300. * u.ms, t_test=200. * u.ms)
    return DMS(**{**args, **kw})


def test_phases_tile_the_trial():
    task = small()
    assert task.n_steps == 80
    assert [(s.start, s.stop) for s in task.phases.values()] == [(0, 10), (10, 30), (30, 60), (60, 80)]
    assert list(task.phases) == ["fixation", "sample", "delay", "test"]
    paper = DMS()                 # the paper's 500 / 500 / 1000 / 500 ms at dt = 1 ms
    assert paper.n_steps == 2500 and paper.phases["test"] == slice(2000, 2500)


def test_shapes_dtypes_and_reproducibility():
    task = small(n_inputs=12)
    a, b = task.sample(32, seed=3), task.sample(32, seed=3)
    assert a.x.shape == (80, 32, 12) and a.x.dtype == np.float32
    assert a.labels.dtype == np.int32 and a.labels.shape == (32,)
    for f in a._fields:
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(task.sample(32, seed=4).x, a.x)
    assert set(np.unique(a.x)) <= {0., 1.}


@pytest.mark.parametrize("rotation", [0, 3])
def test_labels_follow_the_rule(rotation):
    task = small(rotation=rotation)
    t = task.sample(4000, seed=0)
    target = (t.sample_dir + rotation) % 8
    np.testing.assert_array_equal(t.labels == 1, t.test_dir == target)
    assert abs(t.labels.mean() - 0.5) < 0.03
    # every sample direction occurs, and non-match test directions cover the 7 others evenly
    assert np.bincount(t.sample_dir, minlength=8).min() > 400
    off = (t.test_dir - target)[t.labels == 0] % 8
    counts = np.bincount(off, minlength=8)
    assert counts[0] == 0 and counts[1:].min() > 0.8 * counts[1:].mean()


def test_tuning_curve_is_von_mises_with_peak_one():
    task = small(n_inputs=24, kappa=2.)
    assert task.tuning.shape == (8, 24)
    pref = 2 * np.pi * np.arange(24) / 24
    for d in range(8):
        theta = 2 * np.pi * d / 8
        want = np.exp(2. * np.cos(theta - pref)) / np.exp(2.)
        np.testing.assert_allclose(task.tuning[d], want, rtol=1e-12)
        assert task.tuning[d].argmax() == 3 * d          # preferred angle 2 pi i / 24
    assert task.tuning.min() == pytest.approx(np.exp(-4.))
    np.testing.assert_allclose(small(kappa=0.).tuning, 1.)


def test_rate_mode_is_the_expectation_of_the_spiking_mode():
    kw = dict(rate=50. * u.Hz, bg_rate=5. * u.Hz)
    rate = small(mode="rate", **kw).sample(6, seed=1)
    p = rate.x
    # background only outside sample and test; stimulus = rate * dt * tuning + bg * dt
    np.testing.assert_allclose(p[:10], 0.05)
    np.testing.assert_allclose(p[30:60], 0.05)
    tun = small().tuning
    np.testing.assert_allclose(p[15], 0.5 * tun[rate.sample_dir] + 0.05, rtol=1e-6)
    np.testing.assert_allclose(p[70], 0.5 * tun[rate.test_dir] + 0.05, rtol=1e-6)
    # spiking: the mean over many trials of one direction pair matches the probabilities
    task = small(**kw)
    probs = task.probabilities(np.full(3000, 2), np.full(3000, 5))
    spikes = (np.random.default_rng(0).random(probs.shape) < probs)
    got = task.sample(3000, seed=2)
    sel = (got.sample_dir == 2) & (got.test_dir == 5)
    assert sel.sum() > 20
    emp = got.x[:, sel].mean(axis=(0, 1))
    np.testing.assert_allclose(emp, probs[:, 0].mean(axis=0), atol=0.03)
    np.testing.assert_allclose(spikes.mean(axis=1), probs[:, 0], atol=0.06)


@pytest.mark.parametrize("kw,match", [
    (dict(t_delay=305. * u.ms), r"DMS: t_delay=305\. ms is not a whole number of time steps"),
    (dict(t_sample=0. * u.ms), r"DMS: t_sample must be a positive time"),
    (dict(mode="poisson"), r"DMS: mode must be 'spiking' or 'rate', got 'poisson'"),
    (dict(rate=200. * u.Hz), r"DMS: rate \+ bg_rate = .* above 1"),
    (dict(rate=40.), r"DMS: rate must be a finite, non-negative frequency"),
    (dict(n_directions=1), r"DMS: need n_inputs >= 1 and n_directions >= 2"),
    (dict(kappa=-1.), r"DMS: kappa must be finite and non-negative"),
    (dict(match_prob=1.5), r"DMS: match_prob must lie in \[0, 1\]"),
])
def test_bad_arguments_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        small(**kw)
