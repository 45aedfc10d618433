"""Order of convergence of every integration method on the coupled models.

Each multi-variable model (neurons with adaptation or gating variables, the
NMDA synapse) is run through its own ``update`` for a short stretch without
spikes at dt, dt/2 and dt/4, in float64, and compared with an independent
NumPy RK4 solution of the same equations at dt/64. The error must shrink by
~2**order per halving: a method that steps the variables one after the other
is first order whatever its name, and fails here.
"""
import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import neurons, synapses


def _xe(x, k):
    return k if abs(x) < 1e-9 else x / math.expm1(x / k)


def _hh_rates(v, VT=-63.):
    d = v - VT
    return (0.32 * _xe(13 - d, 4), 0.28 * _xe(d - 40, 5), 0.128 * math.exp((17 - d) / 18),
            4 / (1 + math.exp((40 - d) / 5)), 0.032 * _xe(15 - d, 5), 0.5 * math.exp((10 - d) / 40))


def _f_adex(y, I=3.):   # mV, ms; defaults of neurons.AdEx (a = 1, R = 1)
    V, w = y
    dV = (-65. - V + 3.48 * math.exp((V + 59.9) / 3.48) + (I - w)) / 10.
    return np.array([dV, (1. * (V + 65.) - w) / 30.])


def _f_izh(y, I=5.):
    V, w = y
    return np.array([0.04 * V * V + 5. * V + 140. - w + I, 0.02 * (0.2 * V - w)])


def _f_alif(y, I=0.8):
    V, a = y
    return np.array([(0. - V + I) / 10., -a / 100.])


def _f_hh(y, I_nA=0.2):   # mV, ms, nS, pF
    v, m, h, n = y
    am, bm, ah, bh, an, bn = _hh_rates(v)
    dv = (10. * (-60. - v) - 20000. * m ** 3 * h * (v - 50.) - 6000. * n ** 4 * (v + 90.)
          + I_nA * 1e3) / 200.
    return np.array([dv, am * (1 - m) - bm * m, ah * (1 - h) - bh * h, an * (1 - n) - bn * n])


def _f_nmda(y):
    g, x = y
    return np.array([0.5 * x * (1. - g) - g / 100., -x / 2.])


def _hh_y0():
    am, bm, ah, bh, an, bn = _hh_rates(-60.)
    return [-56., am / (am + bm), ah / (ah + bh), an / (an + bn)]


# name: (constructor(method), state names, units, y0, numpy f, drive, T ms, dt ms)
FAMILIES = {
    "AdEx": (lambda m: neurons.AdEx(1, method=m), ("V", "w"), (u.mV, u.mV), [-58., 2.],
             _f_adex, 3. * u.mV, 6., 0.5),
    "Izhikevich": (lambda m: neurons.Izhikevich(1, method=m), ("V", "u"), (u.mV, u.mV),
                   [-64., -12.], _f_izh, 5. * u.mV, 4., 0.2),
    "ALIF": (lambda m: neurons.ALIF(1, method=m), ("V", "a"), (u.mV, None), [0.2, 1.],
             _f_alif, 0.8 * u.mV, 8., 1.),
    "HH": (lambda m: neurons.HH(1, method=m), ("V", "m", "h", "n"), (u.mV, None, None, None),
           _hh_y0(), _f_hh, 0.2 * u.nA, 1., 0.02),
    "NMDA": (lambda m: synapses.NMDA(1, method=m), ("g", "x"), (None, None), [0.1, 1.],
             _f_nmda, None, 4., 0.2),
}
# exact: exponential Rosenbrock-Euler, second order on autonomous nonlinear systems
ORDERS = {"euler": 1, "rk2": 2, "heun": 2, "rk4": 4, "exp_euler": 1, "exact": 2}
# ALIF is linear with V and a uncoupled in its ODE: the exponential methods are exact
EXACT = {("ALIF", "exp_euler"), ("ALIF", "exact")}


def _reference(f, y0, T, dt):
    y = np.array(y0, dtype=np.float64)
    for _ in range(int(round(T / dt))):
        k1 = f(y)
        k2 = f(y + dt / 2 * k1)
        k3 = f(y + dt / 2 * k2)
        k4 = f(y + dt * k3)
        y = y + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def _simulate(family, method, dt):
    make, names, units, y0, _, drive, T, _ = FAMILIES[family]
    model = brainsim.init_states(make(method))
    for st in model.states().values():   # every float state in float64
        v = st.value
        m = jnp.asarray(u.get_mantissa(v))
        if jnp.issubdtype(m.dtype, jnp.floating):
            m = m.astype(jnp.float64)
            st.replace(u.Quantity(m, unit=v.unit) if isinstance(v, u.Quantity) else m)
    for name, unit, v in zip(names, units, y0):
        st = getattr(model, name)
        val = jnp.full(st.value.shape, v, jnp.float64)
        st.value = val * unit if unit is not None else val
    with brainsim.environ.context(dt=dt * u.ms):
        out = brainsim.for_loop(lambda: model(drive) if drive is not None else model(),
                                length=int(round(T / dt)))
    if family != "NMDA":
        assert float(jnp.sum(out)) == 0., "the stretch must stay below threshold (no reset)"
    return np.array([float(u.get_mantissa(getattr(model, n).value if unit is None else
                                          getattr(model, n).value.to_decimal(unit))[0])
                     for n, unit in zip(names, units)])


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# 'exact' builds a matrix exponential per element: seconds of compile per run
METHOD_PARAMS = [pytest.param(m, marks=pytest.mark.slow) if m == "exact" else m for m in ORDERS]


@pytest.mark.parametrize("method", METHOD_PARAMS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_order_of_convergence_on_coupled_models(x64, family, method):
    _, _, _, y0, f, _, T, dt = FAMILIES[family]
    ref = _reference(f, y0, T, dt / 64)
    scale = np.abs(ref) + 1e-3
    errs = [np.max(np.abs(_simulate(family, method, dt / k) - ref) / scale) for k in (1, 2, 4)]
    if (family, method) in EXACT:
        assert max(errs) < 1e-10, errs
        return
    order = ORDERS[method]
    rates = [math.log2(errs[0] / errs[1]), math.log2(errs[1] / errs[2])]
    # the reference's own error is (1/64)**4 of rk4's at dt: far below every err here
    assert errs[2] > 1e-13, errs
    for r in rates:
        assert abs(r - order) < 0.35, (f"{family} {method}: observed orders {rates}, "
                                       f"expected {order}; errors {errs}")
