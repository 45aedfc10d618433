"""NeuronGroup from model strings: spike times against the built-in neurons, methods'
orders of convergence, gradients against finite differences, unit and name errors."""
import math

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import neurons


def _run(model, steps, dt, inputs=None):
    with brainsim.environ.context(dt=dt):
        return np.asarray(brainsim.for_loop(lambda: model(*(inputs or ())), length=steps))


def _spike_steps(s):
    return [np.nonzero(s[:, j])[0].tolist() for j in range(s.shape[1])]


ADEX = """
dv/dt = (v_rest - v + delta_T * exp((v - v_T) / delta_T) + I - w) / tau : volt
dw/dt = (a * (v - v_rest) - w) / tau_w : volt
I : volt
"""
IZH = """
dv/dt = (0.04 / mV * v**2 + 5 * v + 140 * mV - w + I) / ms : volt
dw/dt = a * (b * v - w) : volt
I : volt
"""
HH = """
dv/dt = (gl * (El - v) - g_na * m**3 * h * (v - ENa) - g_kd * n**4 * (v - EK) + I) / Cm : volt
dm/dt = 0.32 * 4 / exprel((13*mV - v + VT) / (4*mV)) / ms * (1 - m)
        - 0.28 * 5 / exprel((v - VT - 40*mV) / (5*mV)) / ms * m : 1
dn/dt = 0.032 * 5 / exprel((15*mV - v + VT) / (5*mV)) / ms * (1 - n)
        - 0.5 * exp((10*mV - v + VT) / (40*mV)) / ms * n : 1
dh/dt = 0.128 * exp((17*mV - v + VT) / (18*mV)) / ms * (1 - h)
        - 4 / (1 + exp((40*mV - v + VT) / (5*mV))) / ms * h : 1
I : amp
"""


def _adex_pair(n):
    ref = neurons.AdEx(n, method="euler")
    ns = dict(v_rest=-65. * u.mV, delta_T=3.48 * u.mV, v_T=-59.9 * u.mV, tau=10. * u.ms,
              a=1., tau_w=30. * u.ms, v_th=-30. * u.mV, v_reset=-68. * u.mV, b=1. * u.mV)
    g = brainsim.NeuronGroup(n, ADEX, threshold="v > v_th", reset="v = v_reset; w += b",
                             method="euler", namespace=ns)
    g.v = -65. * u.mV
    I = jnp.linspace(12., 30., n) * u.mV
    return ref, g, I


def _izh_pair(n):
    ref = neurons.Izhikevich(n, method="euler")
    ns = dict(a=0.02 / u.ms, b=0.2, c=-65. * u.mV, d=8. * u.mV)
    g = brainsim.NeuronGroup(n, IZH, threshold="v > 30*mV", reset="v = c; w += d",
                             method="euler", namespace=ns)
    g.v = -70. * u.mV
    g.w = 0.2 * -70. * u.mV
    I = jnp.linspace(5., 15., n) * u.mV
    return ref, g, I


@pytest.mark.parametrize("pair", [_adex_pair, _izh_pair], ids=["AdEx", "Izhikevich"])
def test_euler_spike_times_equal_builtin(pair):
    ref, g, I = pair(4)
    brainsim.init_states(ref)
    g.I = I
    brainsim.init_states(g)
    steps, dt = 10000, 0.01 * u.ms      # 100 ms
    s_ref = _run(ref, steps, dt, (I,))
    s_g = _run(g, steps, dt)
    assert s_ref.sum() > 8            # every neuron fires a few times
    assert _spike_steps(s_g) == _spike_steps(s_ref)


def test_hh_exponential_euler_spike_times_equal_builtin():
    n = 3
    ref = brainsim.init_states(neurons.HH(n))
    ns = dict(gl=10. * u.nS, g_na=20. * u.uS, g_kd=6. * u.uS, El=-60. * u.mV, ENa=50. * u.mV,
              EK=-90. * u.mV, VT=-63. * u.mV, Cm=200. * u.pF)
    g = brainsim.NeuronGroup(n, HH, threshold="v > -20*mV", refractory="v > -20*mV",
                             method="exponential_euler", namespace=ns)
    g.v, g.m, g.h, g.n = ref.V.value, ref.m.value, ref.h.value, ref.n.value
    I = jnp.array([0.5, 1., 2.]) * u.nA
    g.I = I
    brainsim.init_states(g)
    s_ref = _run(ref, 3000, 0.01 * u.ms, (I,))
    s_g = _run(g, 3000, 0.01 * u.ms)
    assert s_ref.sum() >= 3
    assert _spike_steps(s_g) == _spike_steps(s_ref)


def test_refractory_time_equals_lifref():
    ref = brainsim.init_states(neurons.LIFRef(3, tau=10. * u.ms, V_th=1. * u.mV,
                                              tau_ref=2. * u.ms))
    g = brainsim.NeuronGroup(3, "dv/dt = (I - v) / (10*ms) : volt (unless refractory)\nI : volt",
                             threshold="v > 1*mV", reset="v = 0*mV", refractory=2. * u.ms,
                             method="exponential_euler")
    I = jnp.array([1.5, 3., 10.]) * u.mV
    g.I = I
    brainsim.init_states(g)
    s_ref = _run(ref, 500, 0.1 * u.ms, (I,))
    s_g = _run(g, 500, 0.1 * u.ms)
    assert s_ref.sum() > 10
    assert _spike_steps(s_g) == _spike_steps(s_ref)


# -- convergence order on a coupled two-variable system ----------------------------------
OSC = """
dx/dt = (-x + y) / tau : 1
dy/dt = (-x - y) / tau : 1
"""


def _osc_error(method, dt_ms, T=10.):
    g = brainsim.NeuronGroup(1, OSC, method=method, namespace={"tau": 5. * u.ms})
    g.x = 1.
    brainsim.init_states(g)
    steps = int(round(T / dt_ms))
    _run(g, steps, dt_ms * u.ms)
    s = T / 5.
    x, y = math.exp(-s) * math.cos(s), -math.exp(-s) * math.sin(s)
    return math.hypot(float(g.x.value[0]) - x, float(g.y.value[0]) - y)


@pytest.mark.parametrize("method,order,dts", [
    ("euler", 1, (0.1, 0.05)), ("exponential_euler", 1, (0.1, 0.05)), ("rk2", 2, (0.2, 0.1)),
    ("heun", 2, (0.2, 0.1)), ("rk4", 4, (2., 1.)),
])
def test_order_of_convergence(method, order, dts):
    e1, e2 = _osc_error(method, dts[0]), _osc_error(method, dts[1])
    assert math.log2(e1 / e2) == pytest.approx(order, abs=0.25)


def test_exact_method_is_exact_on_linear_coupled_system():
    # float32: a step of 2 ms (0.4 tau) leaves only rounding error
    assert _osc_error("exact", 2.) < 2e-6
    assert _osc_error("euler", 2.) > 1e-2


def test_exact_refuses_nonlinear_equation_naming_it():
    with pytest.raises(ValueError, match=r"method='exact' cannot integrate the equation "
                                         r"'dv/dt = \(-v\*\*2/mV\) / tau : volt'.*v"):
        brainsim.NeuronGroup(1, "dv/dt = (-v**2/mV) / tau : volt", namespace={"tau": 1 * u.ms})


def test_exponential_euler_refuses_equation_nonlinear_in_itself():
    with pytest.raises(ValueError, match=r"exponential_euler.*'dv/dt = exp\(v/mV\) \* mV / ms : "
                                         r"volt'.*not linear in v"):
        brainsim.NeuronGroup(1, "dv/dt = exp(v/mV) * mV / ms : volt", method="exponential_euler")


# -- gradients -----------------------------------------------------------------------------
def test_parameter_gradient_matches_finite_differences():
    g = brainsim.NeuronGroup(3, "dv/dt = (I - v) / tau + w / tau : volt\n"
                                "dw/dt = -w / tau_w : volt\ntau : second\nI : volt",
                             method="exact", namespace={"tau_w": 7. * u.ms})
    g.tau = jnp.array([5., 10., 20.]) * u.ms
    g.I = 2. * u.mV
    g.w = 1. * u.mV
    brainsim.init_states(g)

    def loss():
        brainsim.reset_states(g)
        with brainsim.environ.context(dt=0.1 * u.ms):
            brainsim.for_loop(lambda: g(), length=100)
        return jnp.sum(g.v.value.to_decimal(u.mV))

    grad = brainsim.jit(brainsim.grad(loss, grad_states=g.tau))()
    loss = brainsim.jit(loss)
    # tau is stored in its declared unit, seconds: the gradient is per second
    grad = np.asarray(u.get_mantissa(grad)) * 1e-3
    tau0 = g.tau.value
    h = 0.05
    fd = []
    for j in range(3):
        vals = []
        for sgn in (1, -1):
            g.tau.value = tau0 + sgn * h * u.ms * (jnp.arange(3) == j)
            vals.append(float(loss()))
        fd.append((vals[0] - vals[1]) / (2 * h))
    g.tau.value = tau0
    assert np.allclose(grad, fd, rtol=2e-2, atol=1e-4), (grad, fd)
    assert np.all(np.abs(fd) > 1e-3)


def test_threshold_surrogate_gives_gradient_through_spikes():
    g = brainsim.NeuronGroup(2, "dv/dt = (I - v) / (10*ms) : volt\nI : volt",
                             threshold="v > 1*mV", reset="v = 0*mV", spk_fun="arctan")
    g.I = 2. * u.mV
    brainsim.init_states(g)

    def loss():
        brainsim.reset_states(g)
        with brainsim.environ.context(dt=0.1 * u.ms):
            s = brainsim.for_loop(lambda: g(), length=200)
        return s.sum()

    grad = brainsim.grad(loss, grad_states=g.I)()
    assert np.all(np.asarray(u.get_mantissa(grad)) > 0)


# -- units and names -----------------------------------------------------------------------
def test_dimension_names_in_messages_do_not_depend_on_how_brainunit_first_made_them():
    from brainsim.equations._units import dim_str
    # brainunit names a dimension from the exponents it was first created with; this one (kept
    # apart from the others' units) is created here from floats, and still reads as integers
    d = u.get_or_create_dimension(np.array([0., 0., 0., 0., 3., -5., 2.]))
    assert dim_str(d) == "K^3 mol^-5 cd^2"
    assert dim_str(u.DIMENSIONLESS) == "dimensionless"


def test_inconsistent_units_in_differential_equation():
    with pytest.raises(brainsim.UnitMismatchError,
                       match=r"Inconsistent units in differential equation defining variable "
                             r"'v'.*right-hand side has dimension m\^2 kg s\^-3 A\^-1, but "
                             r"dv/dt has dimension m\^2 kg s\^-4 A\^-1"):
        brainsim.NeuronGroup(1, "dv/dt = El - v : volt", namespace={"El": -70. * u.mV})


def test_inconsistent_terms_name_both_dimensions():
    with pytest.raises(ValueError, match=r"defining variable 'v'.*'gl' has m\^-2 kg\^-1 s\^3 "
                                         r"A\^2.*'El' has m\^2 kg s\^-3 A\^-1|defining variable "
                                         r"'v'.*'El' has m\^2 kg s\^-3 A\^-1.*'gl' has"):
        brainsim.NeuronGroup(1, "dv/dt = (El + gl) / tau : volt",
                             namespace={"El": -70. * u.mV, "gl": 1. * u.nS, "tau": u.ms})


def test_reset_unit_error():
    with pytest.raises(ValueError, match=r"Inconsistent units in the reset statement for 'v'"):
        brainsim.NeuronGroup(1, "dv/dt = -v / (10*ms) : volt", threshold="v > 1*mV",
                             reset="v = 3*ms")


def test_unknown_identifier_did_you_mean():
    with pytest.raises(ValueError, match=r"The identifier 'tua' in 'dv/dt = -v / tua : volt' "
                                         r"is not defined.*Did you mean 'tau'\?"):
        brainsim.NeuronGroup(1, "dv/dt = -v / tua : volt", namespace={"tau": 10. * u.ms})


def test_unknown_identifier_suggests_model_names():
    with pytest.raises(ValueError, match=r"'v_reest'.*Did you mean 'v_rest'\?"):
        brainsim.NeuronGroup(1, "dv/dt = (v_reest - v) / (10*ms) : volt\nv_rest : volt")


def test_unknown_method_did_you_mean():
    with pytest.raises(ValueError, match=r"Unknown method 'rk5'.*Did you mean 'rk4'\?|Unknown "
                                         r"method 'rk5'.*Did you mean 'rk2'\?"):
        brainsim.NeuronGroup(1, "dv/dt = -v / (10*ms) : volt", method="rk5")


def test_setting_a_variable_checks_its_unit():
    g = brainsim.NeuronGroup(2, "dv/dt = -v / (10*ms) : volt")
    with pytest.raises(brainsim.UnitMismatchError, match=r"v has unit V"):
        g.v = 3. * u.ms


# -- a NeuronGroup is a module like the others ---------------------------------------------
def test_states_are_reachable_and_reset_restores_set_values():
    g = brainsim.NeuronGroup(2, "dv/dt = (I - v) / tau : volt\ntau : second\nI : volt",
                             threshold="v > 1*mV", reset="v = 0*mV")
    g.tau = 10. * u.ms
    g.v = 0.5 * u.mV
    brainsim.init_states(g)
    assert isinstance(g.v, brainsim.HiddenState) and isinstance(g.tau, brainsim.ParamState)
    assert set(g.states()) >= {"v", "tau", "I", "spike"}
    g.I = 3. * u.mV
    _run(g, 100, 0.1 * u.ms)
    brainsim.reset_states(g)
    assert np.allclose(g.v.value.to_decimal(u.mV), 0.5)
    assert np.allclose(g.I.value.to_decimal(u.mV), 3.)   # parameters are kept


def test_vmap_over_batch_and_jit():
    g = brainsim.NeuronGroup(3, "dv/dt = (I - v) / (10*ms) : volt\nI : volt",
                             threshold="v > 1*mV", reset="v = 0*mV")
    g.I = jnp.array([1.5, 2., 4.]) * u.mV
    brainsim.init_states(g, batch_size=2)
    assert g.v.value.shape == (2, 3)
    step = brainsim.jit(lambda: g())
    with brainsim.environ.context(dt=0.1 * u.ms):
        for _ in range(300):
            s = step()
    assert s.shape == (2, 3)
    single = brainsim.init_states(brainsim.NeuronGroup(
        3, "dv/dt = (I - v) / (10*ms) : volt\nI : volt", threshold="v > 1*mV",
        reset="v = 0*mV"))
    single.I = jnp.array([1.5, 2., 4.]) * u.mV
    _run(single, 300, 0.1 * u.ms)
    assert np.allclose(g.v.value.to_decimal(u.mV)[0], single.v.value.to_decimal(u.mV))


# -- Brian2 itself, from another Python -------------------------------------------------------
_BRIAN2 = """
import json
from brian2 import *
prefs.codegen.target = 'numpy'
defaultclock.dt = 0.01*ms
eqs = '''{eqs}'''
ns = {ns}
G = NeuronGroup({n}, eqs, threshold={th!r}, reset={reset!r}, method='euler', namespace=ns)
{init}
M = SpikeMonitor(G)
run(100*ms)
trains = M.spike_trains()
print(json.dumps([[int(round(float(t / defaultclock.dt))) for t in trains[i]]
                  for i in range({n})]))
"""


def _brian2_spike_steps(**kw):
    import json
    import os
    import subprocess
    py = os.environ.get("BRIAN2_PYTHON")
    if not py:
        pytest.skip("BRIAN2_PYTHON is not set (the python of a separate venv with brian2)")
    out = subprocess.run([py, "-c", _BRIAN2.format(**kw)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("which", ["AdEx", "Izhikevich"])
def test_euler_spike_times_equal_brian2(which):
    n = 4
    if which == "AdEx":
        _, g, I = _adex_pair(n)
        kw = dict(eqs=ADEX, th="v > v_th", reset="v = v_reset; w += b",
                  ns="dict(v_rest=-65*mV, delta_T=3.48*mV, v_T=-59.9*mV, tau=10*ms, a=1., "
                     "tau_w=30*ms, v_th=-30*mV, v_reset=-68*mV, b=1*mV)",
                  init="G.v = -65*mV\nG.I = linspace(12, 30, %d)*mV" % n)
    else:
        _, g, I = _izh_pair(n)
        kw = dict(eqs=IZH, th="v > 30*mV", reset="v = c; w += d",
                  ns="dict(a=0.02/ms, b=0.2, c=-65*mV, d=8*mV)",
                  init="G.v = -70*mV\nG.w = 0.2*-70*mV\nG.I = linspace(5, 15, %d)*mV" % n)
    theirs = _brian2_spike_steps(n=n, **kw)
    g.I = I
    brainsim.init_states(g)
    ours = _spike_steps(_run(g, 10000, 0.01 * u.ms))
    assert sum(map(len, theirs)) > 8
    assert ours == theirs


def test_checkpoint_round_trip(tmp_path):
    def make():
        g = brainsim.NeuronGroup(3, "dv/dt = (I - v) / tau : volt (unless refractory)\n"
                                    "tau : second\nI : volt", threshold="v > 1*mV",
                                 reset="v = 0*mV", refractory=1. * u.ms)
        g.tau, g.I = 10. * u.ms, jnp.array([2., 3., 4.]) * u.mV
        return brainsim.init_states(g)

    g = make()
    _run(g, 137, 0.1 * u.ms)
    brainsim.save_checkpoint(tmp_path / "g.npz", g)
    h = make()
    brainsim.load_checkpoint(tmp_path / "g.npz", h)
    a, b = _run(g, 200, 0.1 * u.ms), _run(h, 200, 0.1 * u.ms)
    np.testing.assert_array_equal(a, b)
    assert a.sum() > 0


def test_vmap_over_a_batched_state():
    g = brainsim.NeuronGroup(2, "dv/dt = (I - v) / (10*ms) : volt\nI : volt")
    g.I = 2. * u.mV
    brainsim.init_states(g, batch_size=3)
    v0 = jnp.array([[0., 1.], [2., 3.], [4., 5.]]) * u.mV
    g.v = v0

    def step(scale):
        g()
        return g.v.value.to_decimal(u.mV).sum() * scale

    with brainsim.environ.context(dt=1. * u.ms):
        out = brainsim.vmap(step, batched_states=[g.v])(jnp.ones(3))
    # exact: v(1 ms) = I + (v0 - I) exp(-0.1)
    ref = (2. + (np.asarray(v0.to_decimal(u.mV)) - 2.) * np.exp(-0.1)).sum(1)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-5)


def test_model_syntax_index_size_comments_and_continuations():
    g = brainsim.NeuronGroup(4, """
        # relax towards a value set by the neuron's index
        dv/dt = (v0 - v)
                / (1*ms) : 1            # continued on a second line
        v0 = i * 1.0 / (N - 1) : 1      # subexpression with the index and the size
        """)
    brainsim.init_states(g)
    _run(g, 50, 1. * u.ms)
    np.testing.assert_allclose(np.asarray(g.v.value), [0., 1 / 3, 2 / 3, 1.], rtol=1e-5)


@pytest.mark.parametrize("model,msg", [
    ("dv/dt = -v / (10*ms) : vlot", r"Unknown unit 'vlot'.*Did you mean 'volt'\?"),
    ("dv/dt = -v / (10*ms)", r"every equation ends with ': unit'"),
    ("dv/dt = -v / (10*ms) : volt\nv : volt", r"defines 'v' twice"),
    ("dt/dt = 1 : 1", r"reserved name"),
    ("dv/dt = -v[0] / (10*ms) : volt", r"the syntax Subscript is not supported"),
])
def test_model_syntax_errors(model, msg):
    with pytest.raises(ValueError, match=msg):
        brainsim.NeuronGroup(1, model)


def test_unknown_identifier_in_threshold_and_reset_names_them():
    with pytest.raises(ValueError, match=r"'vtt' in the threshold 'v > vtt'.*Did you mean "
                                         r"'vt'\?"):
        brainsim.NeuronGroup(1, "dv/dt = -v / (10*ms) : volt", threshold="v > vtt",
                             namespace={"vt": 1. * u.mV})
    with pytest.raises(ValueError, match=r"'v_rst' in the reset 'v = v_rst'.*Did you mean "
                                         r"'v_rest'\?"):
        brainsim.NeuronGroup(1, "dv/dt = -v / (10*ms) : volt", threshold="v > 1*mV",
                             reset="v = v_rst", namespace={"v_rest": 0. * u.mV})
