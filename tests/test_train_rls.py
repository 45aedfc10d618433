"""brainsim.train.RLS: exact ridge regression online, forgetting, FORCE learning, clear errors."""

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.train import RLS


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _problem(n=60, n_in=8, n_out=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    # correlated features, so that the regulariser matters
    X = rng.normal(size=(n, n_in)) @ rng.normal(size=(n_in, n_in))
    Y = X @ rng.normal(size=(n_in, n_out)) + 0.3 * rng.normal(size=(n, n_out))
    return X.astype(dtype), Y.astype(dtype)


def _ridge(X, Y, alpha, lam=1.0):
    """Closed form of the weighted ridge problem RLS solves (rows weighted lam^(n-1-i))."""
    w = lam ** np.arange(len(X) - 1, -1, -1, dtype=np.float64)
    A = X.T @ (w[:, None] * X) + lam ** len(X) * alpha * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ (w[:, None] * Y))


@pytest.mark.parametrize("batch", [1, 7, 60])
@pytest.mark.parametrize("alpha", [1e-2, 1.0, 30.0])
def test_one_pass_equals_ridge_closed_form_float64(x64, batch, alpha):
    X, Y = _problem()
    rls = RLS(X.shape[1], Y.shape[1], alpha=alpha, dtype=jnp.float64)
    for i in range(0, len(X), batch):
        rls.update(X[i:i + batch], Y[i:i + batch])
    W = _ridge(X, Y, alpha)
    np.testing.assert_allclose(np.asarray(rls.W.value), W, rtol=1e-9, atol=1e-9)
    # P is the inverse of the regularised correlation matrix
    P = np.linalg.inv(X.T @ X + alpha * np.eye(X.shape[1]))
    np.testing.assert_allclose(np.asarray(rls.P.value), P, rtol=1e-8, atol=1e-10)


def test_one_pass_equals_ridge_float32():
    X, Y = _problem(dtype=np.float32)
    rls = RLS(X.shape[1], Y.shape[1], alpha=1.0)
    for i in range(0, len(X), 10):
        rls.update(X[i:i + 10], Y[i:i + 10])
    assert rls.W.value.dtype == jnp.float32
    W = _ridge(X.astype(np.float64), Y.astype(np.float64), 1.0)
    np.testing.assert_allclose(np.asarray(rls.W.value), W, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("batch", [1, 5])
def test_forgetting_factor_weighs_old_batches_less(x64, batch):
    X, Y = _problem(n=40)
    lam = 0.9
    rls = RLS(X.shape[1], Y.shape[1], alpha=0.5, forgetting=lam, dtype=jnp.float64)
    for i in range(0, len(X), batch):
        rls.update(X[i:i + batch], Y[i:i + batch])
    # forgetting is applied once per update call: rows of one batch share a weight
    w_rows = np.repeat(lam ** np.arange(len(X) // batch - 1, -1, -1), batch)
    A = X.T @ (w_rows[:, None] * X) + lam ** (len(X) // batch) * 0.5 * np.eye(X.shape[1])
    W = np.linalg.solve(A, X.T @ (w_rows[:, None] * Y))
    np.testing.assert_allclose(np.asarray(rls.W.value), W, rtol=1e-8, atol=1e-9)


def test_update_returns_a_priori_error_and_call_predicts(x64):
    X, Y = _problem(n=20)
    rls = RLS(X.shape[1], Y.shape[1], alpha=1.0, dtype=jnp.float64)
    rls.update(X[:10], Y[:10])
    W_before = np.asarray(rls.W.value)
    err = rls.update(X[10], Y[10])                    # 1-D sample
    assert err.shape == (Y.shape[1],)
    np.testing.assert_allclose(np.asarray(err), Y[10] - X[10] @ W_before, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(rls(X)), X @ np.asarray(rls.W.value), rtol=1e-12)
    assert rls(X[0]).shape == (Y.shape[1],)


def test_update_inside_jit_matches_eager(x64):
    X, Y = _problem(n=30)
    eager = RLS(X.shape[1], Y.shape[1], alpha=2.0, dtype=jnp.float64)
    jitted = RLS(X.shape[1], Y.shape[1], alpha=2.0, dtype=jnp.float64)
    step = brainsim.jit(jitted.update)
    for i in range(0, 30, 6):
        eager.update(X[i:i + 6], Y[i:i + 6])
        step(X[i:i + 6], Y[i:i + 6])
    np.testing.assert_allclose(np.asarray(jitted.W.value), np.asarray(eager.W.value), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jitted.W.value), _ridge(X, Y, 2.0), rtol=1e-9, atol=1e-9)


def test_reset_states_keeps_what_was_learned():
    X, Y = _problem(n=10, dtype=np.float32)
    rls = RLS(X.shape[1], Y.shape[1])
    rls.update(X, Y)
    W = np.asarray(rls.W.value)
    brainsim.reset_states(rls)
    np.testing.assert_array_equal(np.asarray(rls.W.value), W)


class _ForceNet(brainsim.DynamicsModule):
    """A chaotic rate network whose readout z = r @ W is fed back (Sussillo & Abbott 2009)."""

    def __init__(self, n=300, g=1.5, p=0.2, seed=0):
        super().__init__(n)
        rng = np.random.default_rng(seed)
        mask = rng.random((n, n)) < p
        self.J = jnp.asarray(g / np.sqrt(p * n) * rng.normal(size=(n, n)) * mask, jnp.float32)
        self.w_fb = jnp.asarray(rng.uniform(-1, 1, size=(1, n)), jnp.float32)
        self.x0 = jnp.asarray(0.5 * rng.normal(size=n), jnp.float32)
        self.readout = RLS(n, 1, alpha=1.0)

    def init_state(self, batch_size=None):
        self.x = brainsim.HiddenState(self.x0)

    def update(self, target=None, learn=False):
        r = jnp.tanh(self.x.value)
        z = self.readout(r)
        # Euler step of tau dx/dt = -x + J r + w_fb z with dt / tau = 0.1
        self.x.value = self.x.value + 0.1 * (-self.x.value + r @ self.J + z @ self.w_fb)
        if learn:
            self.readout.update(r, target)
        return z[0]


def test_force_learns_a_sine_with_output_feedback():
    net = brainsim.init_states(_ForceNet())
    period = 60
    t = np.arange(40 * period)
    target = np.sin(2 * np.pi * t / period).astype(np.float32)[:, None]
    untrained = np.asarray(brainsim.for_loop(lambda y: net(y, learn=False), target[:4 * period]))
    brainsim.reset_states(net)
    z_train = np.asarray(brainsim.for_loop(lambda y: net(y, learn=True), target))
    # after training, the network runs on its own and keeps producing the sine
    z_free = np.asarray(brainsim.for_loop(lambda y: net(y, learn=False), target[:4 * period]))
    ref = target[:4 * period, 0]
    rmse = lambda z: float(np.sqrt(np.mean((z - ref) ** 2)))     # noqa: E731
    assert rmse(untrained) > 0.5                          # chance level: the readout is zero
    assert float(np.sqrt(np.mean((z_train[-4 * period:] - target[-4 * period:, 0]) ** 2))) < 0.05
    assert rmse(z_free) < 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_in=0, n_out=1), "n_in must be a positive int"),
    (dict(n_in=3, n_out=2.0), "n_out must be a positive int"),
    (dict(n_in=3, n_out=1, alpha=0.0), "alpha must be a positive finite float"),
    (dict(n_in=3, n_out=1, alpha=float("nan")), "alpha must be a positive finite float"),
    (dict(n_in=3, n_out=1, forgetting=1.5), r"forgetting must be a float in \(0, 1\]"),
    (dict(n_in=3, n_out=1, forgetting=0.0), r"forgetting must be a float in \(0, 1\]"),
])
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RLS(**kwargs)


def test_bad_dtype():
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        RLS(3, 1, dtype=jnp.int32)


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 5)), np.zeros((4, 2)), r"x has shape \(4, 5\), expected \(n_in,\) = \(3,\)"),
    (np.zeros((4, 3)), np.zeros((4, 1)), r"y has shape \(4, 1\), expected \(n_out,\) = \(2,\)"),
    (np.zeros((2, 4, 3)), np.zeros((4, 2)), r"x has shape \(2, 4, 3\)"),
    (np.zeros((4, 3)), np.zeros((5, 2)), "x holds 4 sample.s. but y holds 5"),
])
def test_shape_mismatch_names_the_argument(x, y, match):
    rls = RLS(3, 2)
    W, P = np.asarray(rls.W.value), np.asarray(rls.P.value)
    with pytest.raises(ValueError, match=match):
        rls.update(x, y)
    # a refused update leaves the states as they were
    np.testing.assert_array_equal(np.asarray(rls.W.value), W)
    np.testing.assert_array_equal(np.asarray(rls.P.value), P)


def test_predict_shape_mismatch_and_quantity():
    rls = RLS(3, 2)
    with pytest.raises(ValueError, match=r"x has shape \(4,\)"):
        rls(np.zeros(4))
    with pytest.raises(TypeError, match="x is a Quantity with unit mV"):
        rls.update(np.zeros((2, 3)) * u.mV, np.zeros((2, 2)))


def test_zero_rows_leave_the_solution_unchanged(x64):
    # padding a last, short batch with zero inputs and zero targets is exact (forgetting 1)
    X, Y = _problem(n=25)
    rls = RLS(X.shape[1], Y.shape[1], alpha=1.0, dtype=jnp.float64)
    for i in range(0, 25, 10):
        xb, yb = X[i:i + 10], Y[i:i + 10]
        pad = 10 - len(xb)
        rls.update(np.pad(xb, ((0, pad), (0, 0))), np.pad(yb, ((0, pad), (0, 0))))
    np.testing.assert_allclose(np.asarray(rls.W.value), _ridge(X, Y, 1.0), rtol=1e-9, atol=1e-9)
