"""random_conn: determinism, statistics and structure against independent counts."""
import numpy as np
import pytest

import brainsim.event as ev


def _dense(M):
    return np.asarray(M.todense())


def test_deterministic_per_seed():
    a, b, c = (ev.random_conn(200, 150, prob=0.1, seed=s) for s in (3, 3, 4))
    np.testing.assert_array_equal(_dense(a), _dense(b))
    assert not np.array_equal(_dense(a), _dense(c))


@pytest.mark.parametrize("prob", [0.0, 0.02, 0.3, 1.0])
def test_density_matches_prob(prob):
    m, n = 400, 300
    D = _dense(ev.random_conn(m, n, prob=prob, seed=1)) != 0
    sd = np.sqrt(m * n * prob * (1 - prob)) + 1e-9
    assert abs(D.sum() - m * n * prob) <= 5 * sd
    # columns are uniform: the first and second half receive similar numbers
    if 0 < prob < 1:
        assert abs(D[:, :150].sum() - D[:, 150:].sum()) <= 5 * np.sqrt(D.sum())


def test_no_self_connections():
    for kw in (dict(prob=0.5), dict(num=7), dict(prob=lambda i, j: 0.5 + 0 * (i + j))):
        D = _dense(ev.random_conn(60, 60, allow_self=False, seed=2, **kw))
        assert np.all(np.diag(D) == 0) and D.sum() > 0


def test_fixed_formats_have_exact_counts():
    pre = ev.random_conn(50, 80, num=6, seed=3, format="fixed_pre")
    D = _dense(pre) != 0
    assert np.all(D.sum(1) == 6)
    post = ev.random_conn(50, 80, num=5, seed=3, format="fixed_post")
    assert np.all((_dense(post) != 0).sum(0) == 5)
    dense_regime = ev.random_conn(20, 10, num=9, seed=3, format="fixed_pre", allow_self=True)
    assert np.all((_dense(dense_regime) != 0).sum(1) == 9)
    csr = ev.random_conn(50, 80, num=6, seed=3)
    assert isinstance(csr, ev.CSR) and np.all((_dense(csr) != 0).sum(1) == 6)


def test_distance_dependent_probability():
    f = lambda i, j: 0.9 * np.exp(-np.abs(i - j) / 5.0)  # noqa: E731
    D = _dense(ev.random_conn(300, 300, prob=f, seed=4)) != 0
    i, j = np.nonzero(D)
    assert np.mean(np.abs(i - j)) < 10  # mean |i-j| of the kernel is ~5
    pos = np.linspace(0, 1, 300)[:, None]
    g = lambda a, b: 0.9 * np.exp(-np.abs(a - b)[..., 0] * 60)  # noqa: E731
    D2 = _dense(ev.random_conn(300, 300, prob=g, pre_positions=pos, post_positions=pos, seed=4)) != 0
    i2, j2 = np.nonzero(D2)
    assert D2.sum() > 100 and np.mean(np.abs(i2 - j2)) < 10


def test_weight_and_units():
    import brainunit as u
    M = ev.random_conn(30, 20, prob=0.2, seed=5, weight=0.5 * u.nS)
    assert M.todense().unit == u.nS


@pytest.mark.slow
def test_large_build_is_sparse_and_fast():
    import time
    t = time.perf_counter()
    M = ev.random_conn(100_000, 100_000, prob=0.002, seed=0)
    assert time.perf_counter() - t < 60
    assert abs(M.nse - 2e7) < 5 * np.sqrt(2e7)
