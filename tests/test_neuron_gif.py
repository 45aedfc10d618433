"""GIF: the closed form between spikes (a sum of exponentials), the spike-triggered jumps,
per-neuron parameters and the parameter checks."""
import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import neurons

TAU, T1, T2, TTH = 20., 5., 50., 100.        # ms
V_REST, V_TH_INF = -70., -50.                # mV


def _exp_terms(c0, terms, tau_new, y0):
    """Solve tau_new dy/dt = g(t) - y with g = c0 + sum_k g_k exp(-t/tau_k) and y(0) = y0.

    Returns (constant, [(coefficient, timescale), ...]) of y(t), a sum of exponentials."""
    out = [(g * tk / (tk - tau_new), tk) for g, tk in terms]
    rest = y0 - c0 - sum(c for c, _ in out)
    return c0, out + [(rest, tau_new)]


def _eval(c0, terms, t):
    return c0 + sum(c * np.exp(-t / tk) for c, tk in terms)


def closed_form(t, V0, I1_0, I2_0, th0, I_ext, a):
    """V, I1, I2, V_th at times t (ms) of the GIF ODE without spikes (R = 1, currents in mV)."""
    I1 = I1_0 * np.exp(-t / T1)
    I2 = I2_0 * np.exp(-t / T2)
    # tau dV/dt = (V_rest + I + I1(t) + I2(t)) - V
    cV, tV = _exp_terms(V_REST + I_ext, [(I1_0, T1), (I2_0, T2)], TAU, V0)
    V = _eval(cV, tV, t)
    # tau_th dth/dt = (V_th_inf + a (V - V_rest)) - th
    cth, tth = _exp_terms(V_TH_INF + a * (cV - V_REST), [(a * c, tk) for c, tk in tV], TTH, th0)
    return V, I1, I2, _eval(cth, tth, t)


@pytest.mark.parametrize("method,dt,tol", [("rk4", 0.05, 1e-4), ("exp_euler", 0.01, 2e-2)])
@pytest.mark.parametrize("a", [0., 0.3])
def test_gif_matches_closed_form_between_spikes(method, dt, tol, a):
    V0, I1_0, I2_0, th0, I_ext = -60., 6., -4., -45., 8.     # subthreshold for the whole run
    with brainsim.environ.context(dt=dt * u.ms):
        n = neurons.GIF(1, tau=TAU * u.ms, tau_I1=T1 * u.ms, tau_I2=T2 * u.ms, tau_th=TTH * u.ms,
                        V_rest=V_REST * u.mV, V_reset=V_REST * u.mV, V_th_inf=V_TH_INF * u.mV, a=a,
                        V_initializer=V0 * u.mV, I1_initializer=I1_0 * u.mV,
                        I2_initializer=I2_0 * u.mV, V_th_initializer=th0 * u.mV, method=method)
        brainsim.init_states(n)
        steps = int(round(60. / dt))

        def step():
            s = n(I_ext * u.mV)
            return s, n.V.value, n.I1.value, n.I2.value, n.V_th.value
        s, V, I1, I2, th = brainsim.for_loop(step, length=steps)
    assert float(s.sum()) == 0.
    t = dt * np.arange(1, steps + 1)
    want = closed_form(t, V0, I1_0, I2_0, th0, I_ext, a)
    for got, ref in zip((V, I1, I2, th), want):
        np.testing.assert_allclose(np.asarray(got.to_decimal(u.mV))[:, 0], ref, atol=tol, rtol=0)
    # the comparison can fail: the I2 current visibly moves V (a model without it is far off)
    V_no_I2 = closed_form(t, V0, I1_0, 0., th0, I_ext, a)[0]
    assert np.abs(V_no_I2 - want[0]).max() > 100 * tol


def test_gif_spike_jumps_and_resets():
    """One forced spike: V resets, I1 <- R1 I1 + A1, I2 <- R2 I2 + A2, V_th <- max(V_th, floor) + A_th."""
    with brainsim.environ.context(dt=0.1 * u.ms):
        n = brainsim.init_states(neurons.GIF(
            2, V_initializer=-50.5 * u.mV, I1_initializer=2. * u.mV, I2_initializer=-1. * u.mV,
            A1=3. * u.mV, A2=-0.5 * u.mV, R1=0.5, R2=1., A_th=2. * u.mV, V_th_reset=-48. * u.mV,
            spk_fun="sigmoid"))
        x = jnp.array([200., 0.]) * u.mV      # neuron 0 is kicked over threshold, neuron 1 is not
        n(x)
    s = np.asarray(n.spike.value)
    assert s.tolist() == [1., 0.]
    # neuron 0, after one step of exp_euler: I1 decayed then 0.5 I1 + 3; I2 decayed then - 0.5
    d1, d2 = np.exp(-0.1 / 5.), np.exp(-0.1 / 50.)
    I1, I2 = np.asarray(n.I1.value.to_decimal(u.mV)), np.asarray(n.I2.value.to_decimal(u.mV))
    np.testing.assert_allclose(I1, [0.5 * 2. * d1 + 3., 2. * d1], rtol=1e-5)
    np.testing.assert_allclose(I2, [-1. * d2 - 0.5, -1. * d2], rtol=1e-5)
    th = np.asarray(n.V_th.value.to_decimal(u.mV))
    np.testing.assert_allclose(th[0], -48. + 2., rtol=1e-6)         # floor -48, then + A_th
    assert th[1] == pytest.approx(-50., abs=1e-6)
    assert float(n.V.value[0].to_decimal(u.mV)) == pytest.approx(-70.)   # hard reset


def test_gif_soft_reset_and_per_neuron_parameters_with_plain_numbers():
    """The paper's setting: plain numbers, V_th_inf = 1, soft reset, A1 only on some neurons."""
    A1 = jnp.array([0., 1.])
    with brainsim.environ.context(dt=1. * u.ms):
        n = brainsim.init_states(neurons.GIF(
            2, V_rest=0., V_reset=0., V_th_inf=1., A1=A1, A2=-0.6,
            tau_I2=jnp.array([100., 3000.]) * u.ms, spk_reset="soft", V_initializer=1.2))
        n(0.)
    V = np.asarray(n.V.value)
    V_pre = 1.2 * np.exp(-1. / 20.)          # exp_euler: the leak over one step, then a spike
    np.testing.assert_allclose(V, V_pre - 1., rtol=1e-5)
    np.testing.assert_allclose(np.asarray(n.I1.value), [0., 1.], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(n.I2.value), [-0.6, -0.6], rtol=1e-6)


@pytest.mark.parametrize("make,err,match", [
    (lambda: neurons.GIF(2, V_reset=-40. * u.mV), ValueError,
     r"GIF: V_reset=-40\. mV must be below V_th_inf=-50\. mV"),
    (lambda: neurons.GIF(2, tau_I2=-1. * u.ms), ValueError, r"GIF: tau_I2 must be a positive time"),
    (lambda: neurons.GIF(2, A2=1. * u.nA), ValueError,
     r"GIF: A2=1\. nA must be a current in the unit of the input"),
    (lambda: neurons.GIF(2, A1=jnp.ones(3) * u.mV), ValueError,
     r"GIF: A1 has shape \(3,\), which does not broadcast to the population shape \(2,\)"),
    (lambda: neurons.GIF(2, a=float("nan")), ValueError, r"GIF: a must be finite"),
    (lambda: neurons.GIF(2, A_th=1. * u.ms), ValueError, r"GIF: A_th=.* must have the same unit kind"),
])
def test_gif_bad_parameters_are_refused(make, err, match):
    with pytest.raises(err, match=match):
        make()
