import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim


class Readout(brainsim.Module):
    def __init__(self):
        super().__init__()
        self.w = brainsim.ParamState(jnp.array([[0.5, -1.0], [2.0, 0.25], [-0.3, 0.7]]))
        self.b = brainsim.ParamState(jnp.array([0.1, -0.2]))
        self.h = brainsim.HiddenState(jnp.zeros(2))


def pure_loss(w, b, x):
    h = jnp.tanh(x @ w + b)
    return jnp.sum(h ** 2) + 0.5 * jnp.sum(w ** 2)


def model_loss(m, x):
    h = jnp.tanh(x @ m.w.value + m.b.value)
    m.h.value = h  # a forward pass that updates a hidden state
    return jnp.sum(h ** 2) + 0.5 * jnp.sum(m.w.value ** 2)


X = jnp.array([1.0, -2.0, 0.5])


def test_grad_matches_jax_grad_of_pure_function():
    m = Readout()
    g = brainsim.grad(lambda x: model_loss(m, x), grad_states=m.states(brainsim.ParamState))(X)
    gw, gb = jax.grad(pure_loss, argnums=(0, 1))(m.w.value, m.b.value, X)
    assert list(g) == ["w", "b"]
    np.testing.assert_allclose(g["w"], gw, rtol=1e-6)
    np.testing.assert_allclose(g["b"], gb, rtol=1e-6)


def test_grad_agrees_with_finite_differences():
    m = Readout()
    g = brainsim.grad(lambda x: model_loss(m, x), grad_states=[m.w])(X)[0]
    w0 = np.asarray(m.w.value, dtype=np.float64)
    eps = 1e-3
    for idx in np.ndindex(w0.shape):
        wp, wm = w0.copy(), w0.copy()
        wp[idx] += eps
        wm[idx] -= eps
        fd = (pure_loss(jnp.asarray(wp), m.b.value, X) - pure_loss(jnp.asarray(wm), m.b.value, X)) / (2 * eps)
        np.testing.assert_allclose(float(g[idx]), float(fd), rtol=2e-2, atol=2e-3)


def test_written_states_are_written_back_and_params_unchanged():
    m = Readout()
    w_before = m.w.value
    brainsim.grad(lambda x: model_loss(m, x), grad_states=m.w)(X)
    np.testing.assert_allclose(m.h.value, jnp.tanh(X @ m.w.value + m.b.value), rtol=1e-6)
    assert m.w.value is w_before


def test_argnums_has_aux_return_value():
    m = Readout()

    def f(x, scale):
        loss = model_loss(m, x) * scale
        return loss, {"h": m.h.value}

    grads, loss, aux = brainsim.grad(f, grad_states={"b": m.b}, argnums=(0, 1), has_aux=True,
                                     return_value=True)(X, 2.0)
    state_g, (gx, gscale) = grads
    ref = jax.grad(lambda b, x, s: pure_loss(m.w.value, b, x) * s, argnums=(0, 1, 2))(m.b.value, X, 2.0)
    np.testing.assert_allclose(state_g["b"], ref[0], rtol=1e-6)
    np.testing.assert_allclose(gx, ref[1], rtol=1e-6)
    np.testing.assert_allclose(gscale, ref[2], rtol=1e-6)
    np.testing.assert_allclose(loss, 2.0 * pure_loss(m.w.value, m.b.value, X), rtol=1e-6)
    assert aux["h"].shape == (2,)


def test_value_and_grad_and_jit():
    m = Readout()
    vg = brainsim.jit(brainsim.value_and_grad(lambda x: model_loss(m, x), grad_states=[m.w, m.b]))
    loss, (gw, gb) = vg(X)
    np.testing.assert_allclose(loss, pure_loss(m.w.value, m.b.value, X), rtol=1e-6)
    ref = jax.grad(pure_loss, argnums=(0, 1))(m.w.value, m.b.value, X)
    np.testing.assert_allclose(gw, ref[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gb, ref[1], rtol=1e-5, atol=1e-6)


def test_grad_through_for_loop_bptt_matches_pure_scan():
    w = brainsim.ParamState(jnp.array(0.7))
    h = brainsim.HiddenState(jnp.array(0.0))
    xs = jnp.linspace(-1.0, 1.0, 12)

    def loss(remat):
        def body(x):
            h.value = jnp.tanh(w.value * h.value + x)
            return h.value
        return jnp.sum(brainsim.for_loop(body, xs, remat=remat) ** 2)

    def pure(wv):
        def body(hv, x):
            hv = jnp.tanh(wv * hv + x)
            return hv, hv
        return jnp.sum(jax.lax.scan(body, 0.0, xs)[1] ** 2)

    ref = jax.grad(pure)(0.7)
    for remat in (False, True):
        h.value = jnp.array(0.0)
        g = brainsim.grad(lambda: loss(remat), grad_states=w)()
        np.testing.assert_allclose(g, ref, rtol=1e-5)


def test_grad_of_quantity_state_keeps_unit():
    g_syn = brainsim.ParamState(jnp.array([1.0, 2.0]) * u.nS)
    g = brainsim.grad(lambda: jnp.sum((g_syn.value / u.nS) ** 2), grad_states=g_syn)()
    assert isinstance(g, u.Quantity) and g.unit == u.nS
    np.testing.assert_allclose(g.mantissa, [2.0, 4.0])


def test_grad_states_must_be_states():
    with pytest.raises(TypeError, match="Expected a list of States, but it holds a ndarray|ArrayImpl"):
        brainsim.grad(lambda: 0.0, grad_states=[jnp.zeros(2)])()
