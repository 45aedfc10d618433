"""Tests for brainsim.integrators against analytic solutions."""
import math

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from brainsim import integrators

ALL = ['euler', 'rk2', 'heun', 'rk4', 'exp_euler', 'exact']
ORDER = {'euler': 1, 'rk2': 2, 'heun': 2, 'rk4': 4}


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


# ---- reference problems: (f, y0, t_end, analytic(t) -> state) ----

def _decay():
    tau = 10. * u.ms
    f = lambda v, t: -v / tau
    return f, 2. * u.mV, 20. * u.ms, lambda t: 2. * u.mV * np.exp(-t / 10.)


def _oscillator():
    w = 2.0
    f = lambda s, t: {'x': s['v'], 'v': -w ** 2 * s['x']}
    return f, {'x': 1.0, 'v': 0.0}, 3.0, lambda t: {'x': np.cos(w * t), 'v': -w * np.sin(w * t)}


def _forced():
    # y' = -y + sin t, exact y = (y0 + 1/2) e^-t + (sin t - cos t) / 2
    f = lambda y, t: -y + jnp.sin(t)
    return f, 1.0, 4.0, lambda t: 1.5 * np.exp(-t) + (np.sin(t) - np.cos(t)) / 2


PROBLEMS = {'decay': _decay, 'oscillator': _oscillator, 'forced': _forced}


def _err(state, ref):
    ls = jax.tree_util.tree_leaves(state, is_leaf=lambda x: isinstance(x, u.Quantity))
    lr = jax.tree_util.tree_leaves(ref, is_leaf=lambda x: isinstance(x, u.Quantity))
    return max(float(np.max(np.abs(np.asarray(u.get_mantissa(a)) - np.asarray(u.get_mantissa(b)))))
               for a, b in zip(ls, lr))


def _run(method, problem, n):
    f, y0, t_end, exact = PROBLEMS[problem]()
    dt = t_end / n
    t0 = 0. * u.get_unit(t_end) if isinstance(t_end, u.Quantity) else 0.
    y = integrators.integrate(f, y0, t0, dt, n, method=method)
    t_val = float(u.get_mantissa(t_end))
    return _err(y, exact(t_val))


def _observed_order(method, problem, n):
    e1, e2, e3 = (_run(method, problem, k) for k in (n, 2 * n, 4 * n))
    return math.log2(e1 / e2), math.log2(e2 / e3)


@pytest.mark.parametrize('problem', list(PROBLEMS))
@pytest.mark.parametrize('method', list(ORDER))
def test_convergence_order(x64, method, problem):
    # log2 of the error ratio for n=40->80 and 80->160 steps; 0.2 leaves room
    # for the higher-order terms still visible at these step counts
    p1, p2 = _observed_order(method, problem, 40)
    expected = ORDER[method]
    assert abs(p1 - expected) < 0.2, (p1, p2)
    assert abs(p2 - expected) < 0.2, (p1, p2)


@pytest.mark.parametrize('method', ['exp_euler', 'exact'])
def test_exponential_methods_first_order_with_time_forcing(x64, method):
    # the t-dependence of the drive is frozen within a step -> order 1
    p1, p2 = _observed_order(method, 'forced', 40)
    assert abs(p1 - 1.0) < 0.2 and abs(p2 - 1.0) < 0.2, (p1, p2)


def test_exp_euler_order_two_on_scalar_autonomous_nonlinear(x64):
    # y' = -y^2 (y(t) = 1/(1+t)): for one variable, the linearisation is the
    # full Jacobian (exponential Rosenbrock-Euler), which is second order.
    f = lambda y, t: -y ** 2
    errs = [abs(float(integrators.integrate(f, 1.0, 0.0, 2.0 / n, n, method='exp_euler')) - 1 / 3)
            for n in (20, 40, 80)]
    assert abs(math.log2(errs[0] / errs[1]) - 2) < 0.2 and abs(math.log2(errs[1] / errs[2]) - 2) < 0.2, errs


@pytest.mark.parametrize('method', ['exp_euler', 'exact'])
def test_exact_for_elementwise_linear_ode(method):
    a = jnp.array([-0.5, -0.05, 0.0, 0.2]) / u.ms
    b = jnp.array([1.0, -2.0, 3.0, 0.5]) * u.mV / u.ms
    v0 = jnp.array([-65., 10., 0., 1.]) * u.mV
    dt = 3.0 * u.ms
    v1 = integrators.get(method)(lambda v, t: a * v + b, v0, 0. * u.ms, dt)
    # independent closed form in float64 numpy: v(t) = e^{at} v0 + b (e^{at}-1)/a (-> b t at a=0)
    am, bm, vm = np.array([-0.5, -0.05, 0.0, 0.2]), np.array([1., -2., 3., .5]), np.array([-65., 10., 0., 1.])
    with np.errstate(divide='ignore', invalid='ignore'):
        ref = np.where(am == 0, vm + bm * 3.0, np.exp(am * 3) * vm + bm * np.expm1(am * 3) / am)
    assert v1.unit == u.mV
    np.testing.assert_allclose(np.asarray(v1.to_decimal(u.mV)), ref, rtol=2e-6, atol=2e-5)


def test_exact_coupled_linear_system_against_eigendecomposition():
    # y' = A y + b for two pytree leaves; reference via numpy eig in float64
    A = np.array([[-0.3, 1.2], [-0.8, -0.1]])
    bvec = np.array([0.5, -0.2])
    x0 = np.array([1.0, -2.0, 0.5])
    v0 = np.array([0.0, 1.0, 3.0])
    f = lambda s, t: {'x': A[0, 0] * s['x'] + A[0, 1] * s['v'] + bvec[0],
                      'v': A[1, 0] * s['x'] + A[1, 1] * s['v'] + bvec[1]}
    dt = 2.5
    out = integrators.exact(f, {'x': jnp.asarray(x0, jnp.float32), 'v': jnp.asarray(v0, jnp.float32)}, 0.0, dt)
    lam, V = np.linalg.eig(A)
    y_star = -np.linalg.solve(A, bvec)                      # fixed point
    Y0 = np.stack([x0, v0]) - y_star[:, None]
    ref = (V @ np.diag(np.exp(lam * dt)) @ np.linalg.inv(V) @ Y0).real + y_star[:, None]
    np.testing.assert_allclose(np.asarray(out['x']), ref[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(out['v']), ref[1], rtol=1e-5, atol=1e-5)


def test_exact_linear_step_matrix_and_units():
    A = jnp.array([[0., 1.], [-4., 0.]]) / u.ms          # omega = 2 / ms
    b = jnp.zeros(2) * u.mV / u.ms
    y = jnp.array([1., 0.]) * u.mV
    out = integrators.exact_linear_step(A, b, y, 0.7 * u.ms)
    assert out.unit == u.mV
    np.testing.assert_allclose(np.asarray(out.to_decimal(u.mV)),
                               [np.cos(1.4), -2 * np.sin(1.4)], rtol=1e-5, atol=1e-6)
    # constant drive: y' = -y + 3 -> 3 + (y0 - 3) e^-t
    out = integrators.exact_linear_step(-jnp.eye(1), jnp.array([3.]), jnp.array([1.]), 2.0)
    np.testing.assert_allclose(np.asarray(out), [3 - 2 * np.exp(-2.)], rtol=1e-6)


def test_exact_linear_step_bad_input():
    with pytest.raises(ValueError, match=r'A must have shape \[\.\.\., 2, 2\]'):
        integrators.exact_linear_step(jnp.eye(3), jnp.zeros(2), jnp.ones(2), 0.1)
    with pytest.raises(ValueError, match='b \\* dt must have the unit of y'):
        integrators.exact_linear_step(jnp.eye(2) / u.ms, jnp.zeros(2) * u.mV, jnp.ones(2) * u.mV, 0.1 * u.ms)


@pytest.mark.parametrize('method', ALL)
def test_units_preserved_mixed_state(method):
    tau, tau_w, R, a = 10. * u.ms, 100. * u.ms, 2. * u.mohm, 0.5 * u.nS
    f = lambda s, t, I: {'V': (-s['V'] + R * (I - s['w'])) / tau, 'w': (a * s['V'] - s['w']) / tau_w}
    s0 = {'V': jnp.full(3, -65.) * u.mV, 'w': jnp.zeros(3) * u.pA}
    s1 = integrators.get(method)(f, s0, 0. * u.ms, 0.1 * u.ms, 100. * u.pA)
    assert u.get_unit(s1['V']) == u.mV and u.get_unit(s1['w']) == u.pA
    assert s1['V'].shape == (3,)
    # one tiny step must agree with Euler to first order
    eul = integrators.euler(f, s0, 0. * u.ms, 0.1 * u.ms, 100. * u.pA)
    np.testing.assert_allclose(np.asarray(s1['V'].to_decimal(u.mV)), np.asarray(eul['V'].to_decimal(u.mV)),
                               rtol=1e-3)


@pytest.mark.parametrize('method', ALL)
def test_unit_mismatch_names_variable(method):
    f = lambda s, t: {'V': -s['V'] * (1. / u.ms), 'w': -s['w']}   # w forgot /tau
    s0 = {'V': 1. * u.mV, 'w': 1. * u.pA}
    with pytest.raises(ValueError, match=r"derivative of \['w'\].*pA / ms.*returned pA"):
        integrators.get(method)(f, s0, 0. * u.ms, 0.1 * u.ms)


def test_unit_mismatch_unitless_time():
    with pytest.raises(ValueError, match='derivative of y: dy/dt must have unit mV .*returned mV / ms'):
        integrators.euler(lambda v, t: -v / u.ms, 1. * u.mV, 0., 0.1)


def test_t_dt_dimension_mismatch():
    with pytest.raises(ValueError, match='dt must have the same dimension as t: got t in ms and dt in mV'):
        integrators.rk4(lambda v, t: -v / u.ms, 1. * u.mV, 0. * u.ms, 0.1 * u.mV)


def test_structure_mismatch():
    with pytest.raises(TypeError, match='same structure as y'):
        integrators.euler(lambda s, t: {'a': -s['a']}, {'a': 1., 'b': 2.}, 0., 0.1)


@pytest.mark.parametrize('bad,suggest', [('rk5', 'rk4'), ('eular', 'euler'), ('expeuler', 'exp_euler')])
def test_bad_method_name(bad, suggest):
    with pytest.raises(ValueError, match=rf"Unknown integration method '{bad}'\. Valid methods: 'euler', "
                                         rf".*Did you mean '{suggest}'\?"):
        integrators.get(bad)


def test_get_passthrough_and_type_error():
    assert integrators.get('RK4') is integrators.rk4
    custom = lambda f, y, t, dt, *a: y
    assert integrators.get(custom) is custom
    with pytest.raises(TypeError, match='method must be a method name'):
        integrators.get(3)


@pytest.mark.parametrize('method', ALL)
def test_jit_and_vmap(method):
    step = integrators.get(method)
    f = lambda s, t, I: {'x': s['v'], 'v': -s['x'] - 0.1 * s['v'] + I}
    s0 = {'x': jnp.array([1., 0., -1.]), 'v': jnp.array([0., 1., .5])}
    eager = step(f, s0, 0.0, 0.1, 0.3)
    jitted = jax.jit(lambda s, I: step(f, s, 0.0, 0.1, I))(s0, 0.3)
    for k in s0:
        np.testing.assert_allclose(jitted[k], eager[k], rtol=1e-6)
    # vmap over a batch of inputs equals a Python loop
    Is = jnp.array([0., 0.5, 1.0])
    batched = jax.vmap(lambda I: step(f, s0, 0.0, 0.1, I))(Is)
    for i, I in enumerate(Is):
        single = step(f, s0, 0.0, 0.1, I)
        for k in s0:
            np.testing.assert_allclose(batched[k][i], single[k], rtol=1e-6)


@pytest.mark.parametrize('method', ALL)
def test_jit_with_units(method):
    tau = 10. * u.ms
    step = integrators.get(method)
    out = jax.jit(lambda v: step(lambda v, t: -v / tau, v, 0. * u.ms, 1. * u.ms))(jnp.ones(2) * u.mV)
    assert out.unit == u.mV


def test_grad_through_integrate_euler():
    # Euler on y' = -y/tau: y_n = (1 - dt/tau)^n y0, so dy_n/dy0 = (1 - dt/tau)^n
    g = jax.grad(lambda y0: integrators.integrate(lambda y, t: -y / 10., y0, 0., 0.5, 8, method='euler'))(1.0)
    np.testing.assert_allclose(g, (1 - 0.05) ** 8, rtol=1e-6)


def test_integrate_trajectory_and_time():
    # y' = t -> y = t^2 / 2; rk4 is exact for polynomials of degree <= 3
    y, traj = integrators.integrate(lambda y, t: t, 0.0, 0.0, 0.25, 8, method='rk4', return_trajectory=True)
    ts = 0.25 * np.arange(1, 9)
    np.testing.assert_allclose(traj, ts ** 2 / 2, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(y, 2.0, rtol=1e-6)
    with pytest.raises(ValueError, match='num_steps must be a non-negative Python int'):
        integrators.integrate(lambda y, t: t, 0.0, 0.0, 0.25, 2.5)


def test_exact_requires_common_shape():
    f = lambda s, t: {'a': -s['a'], 'b': -s['b']}
    with pytest.raises(ValueError, match='must have the same shape'):
        integrators.exact(f, {'a': jnp.ones(2), 'b': jnp.ones(3)}, 0., 0.1)


def test_derivative_shape_mismatch():
    with pytest.raises(ValueError, match=r'Shape mismatch in the derivative of y: the state has shape \(2,\)'):
        integrators.euler(lambda y, t: jnp.ones(3), jnp.ones(2), 0., 0.1)
