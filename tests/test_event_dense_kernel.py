"""Spikes @ dense weights (brainsim/event/_dense.py, _kernels_dense.cc) against dense products.

The compiled kernel and the pure-JAX form are both checked against a float64 NumPy product, in
the forward pass and the weight gradient, across shapes that cut the kernel's 64-row blocks and
its 16-lane vectors, event dtypes and densities; its three instruction-set forms must agree bit
for bit.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim.event as ev
from brainsim import layers
from _kernels import require_kernel

require_kernel("brainsim_dense_events")

# (B, m, n): one row / column, the 16-lane and 64-row edges either side, a training-sized layer,
# more columns than one register tile, and empty dimensions
SHAPES = [(1, 1, 1), (3, 63, 17), (64, 64, 128), (65, 65, 129), (130, 784, 128), (7, 200, 300),
          (0, 5, 3), (4, 0, 3), (4, 5, 0)]
DENSITIES = [0.0, 0.02, 0.3, 1.0]
EVENTS = ["bool", "float01", "float_values", "int8"]


@pytest.fixture(params=["cpu_kernel", "jax"])
def backend(request):
    ev.set_backend(request.param)
    yield request.param
    ev.set_backend("auto")


def _events(rng, shape, density, kind):
    x = rng.random(shape) < density
    if kind == "bool":
        return x
    if kind == "float01":
        return x.astype(np.float32)
    if kind == "int8":
        return x.astype(np.int8)
    # any nonzero is one event, whatever its value or sign
    return (x * rng.choice([-2.5, 0.5, 3.0], shape)).astype(np.float32)


def _problem(seed, shape, density, kind):
    rng = np.random.default_rng(seed)
    B, m, n = shape
    X = _events(rng, (B, m), density, kind)
    W = rng.normal(size=(m, n)).astype(np.float32)
    C = rng.normal(size=(B, n)).astype(np.float32)
    return X, W, C


def _loss(W, X, C):
    return jnp.sum(jnp.sin(ev.BinaryArray(X) @ W) * C)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("kind", EVENTS)
def test_forward_and_weight_gradient_equal_dense(shape, density, kind, backend):
    X, W, C = _problem(SHAPES.index(shape), shape, density, kind)
    S = (X != 0).astype(np.float64)
    y_ref = S @ W
    g_ref = S.T @ (np.cos(y_ref) * C)          # d/dW sum(sin(S W) C), by hand
    y = jax.jit(lambda W, X: ev.BinaryArray(X) @ W)(W, X)
    g = jax.jit(jax.grad(_loss))(W, X, C)
    assert y.shape == y_ref.shape and g.shape == g_ref.shape
    np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("backend", ["cpu_kernel"], indirect=True)
def test_nan_is_an_event_and_negative_zero_is_not(backend):
    X = np.array([[np.nan, -0.0, 1.0, 0.0]], np.float32)
    W = np.arange(8, dtype=np.float32).reshape(4, 2)
    y = np.asarray(jax.jit(lambda W, X: ev.BinaryArray(X) @ W)(W, X))
    np.testing.assert_array_equal(y, [[0 + 4, 1 + 5]])


def test_both_directions_run_the_kernel():
    X, W, C = _problem(1, (130, 784, 128), 0.3, "float01")
    ev.set_backend("cpu_kernel")
    try:
        hlo = jax.jit(jax.value_and_grad(_loss)).lower(W, X, C).as_text()
    finally:
        ev.set_backend("auto")
    calls = [ln for ln in hlo.splitlines() if "brainsim_dense_events" in ln]
    assert len(calls) == 2, calls
    assert any("transpose = 0" in c for c in calls) and any("transpose = 1" in c for c in calls)
    ev.set_backend("jax")
    try:
        assert "brainsim_dense_events" not in jax.jit(jax.grad(_loss)).lower(W, X, C).as_text()
    finally:
        ev.set_backend("auto")


def test_input_gradient_is_the_float_products():
    """Straight-through: d/dX of the spike product is that of X @ W with X as floats."""
    X, W, C = _problem(2, (9, 70, 20), 0.3, "float01")
    g = jax.grad(_loss, argnums=1)(W, X, C)
    g_ref = jax.grad(lambda X: jnp.sum(jnp.sin(X @ W) * C))(X)
    np.testing.assert_allclose(g, g_ref, rtol=1e-5, atol=1e-5)


def test_second_derivative_equals_dense():
    X, W, C = _problem(3, (9, 70, 20), 0.3, "float01")
    h = jax.grad(lambda W: jnp.sum(jax.grad(_loss)(W, X, C) ** 2))(W)
    h_ref = jax.grad(lambda W: jnp.sum(jax.grad(lambda W: jnp.sum(jnp.sin(X @ W) * C))(W) ** 2))(W)
    np.testing.assert_allclose(h, h_ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("in_axes", [(None, 0), (0, None), (0, 0)])
def test_vmap_and_its_gradients_equal_dense(in_axes, backend):
    rng = np.random.default_rng(4)
    Xs = (rng.random((3, 40, 100)) < 0.3).astype(np.float32)
    Ws = rng.normal(size=(3, 100, 20)).astype(np.float32)
    C = rng.normal(size=(40, 20)).astype(np.float32)
    W = Ws if in_axes[0] == 0 else Ws[0]
    X = Xs if in_axes[1] == 0 else Xs[0]
    dense = lambda W, X: jnp.sum(jnp.sin(X @ W) * C)
    loss = lambda W, X: _loss(W, X, C)
    np.testing.assert_allclose(jax.vmap(loss, in_axes)(W, X), jax.vmap(dense, in_axes)(W, X),
                               rtol=1e-5, atol=1e-4)
    grad_of_vmap = lambda f: jax.grad(lambda W: jnp.sum(jax.vmap(f, in_axes)(W, X)))(W)
    np.testing.assert_allclose(grad_of_vmap(loss), grad_of_vmap(dense), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(jax.vmap(jax.grad(loss), in_axes)(W, X),
                               jax.vmap(jax.grad(dense), in_axes)(W, X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("in_axes", [(None, 0), (0, None), (0, 0)])
def test_vmap_over_an_empty_axis(in_axes, backend):
    """A lane of size 0 against a shared operand's 1 is 0 lanes, not 1."""
    W = np.zeros((0, 5, 4), np.float32) if in_axes[0] == 0 else np.ones((5, 4), np.float32)
    X = np.ones((0, 3, 5), np.float32) if in_axes[1] == 0 else np.ones((3, 5), np.float32)
    f = lambda W, X: ev.BinaryArray(X) @ W
    assert jax.jit(jax.vmap(f, in_axes))(W, X).shape == (0, 3, 4)
    g = jax.grad(lambda W: jnp.sum(jax.vmap(f, in_axes)(W, X)))(W)
    assert g.shape == W.shape


def test_mixed_second_derivative_is_the_float_products():
    """d/dX of dL/dW: the straight-through rule applied twice, as for X @ W with float X."""
    X, W, C = _problem(7, (9, 70, 20), 0.3, "float01")
    mixed = lambda loss: jax.grad(lambda X: jnp.sum(jax.grad(loss)(W, X) ** 2))(X)
    np.testing.assert_allclose(mixed(lambda W, X: _loss(W, X, C)),
                               mixed(lambda W, X: jnp.sum(jnp.sin(X @ W) * C)), rtol=1e-4, atol=1e-4)


def test_weights_other_than_float32_use_the_jax_form():
    X, W, C = _problem(5, (9, 70, 20), 0.3, "bool")
    W16 = W.astype(jnp.bfloat16)
    y = jax.jit(lambda W, X: ev.BinaryArray(X) @ W)(W16, X)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y, np.float32), X.astype(np.float32) @ np.asarray(W16, np.float32),
                               rtol=2e-2, atol=5e-2)


_FORM_SCRIPT = textwrap.dedent("""
    import hashlib, json, sys
    import jax, jax.numpy as jnp, numpy as np
    import brainsim.event as ev
    from brainsim.event import _kernels_cpu
    ev.set_backend("cpu_kernel")
    rng = np.random.default_rng(0)
    out = {"form": _kernels_cpu.dense_events_form()}
    out["err"] = 0.0
    # m not a multiple of 8 or 16 and B not of 64: the tails of every form's mask code
    for kind, (B, m, n) in [("f32", (130, 203, 150)), ("bool", (65, 787, 129))]:
        X = rng.random((B, m)) < 0.3
        X = X.astype(np.float32) if kind == "f32" else X
        W = rng.normal(size=(m, n)).astype(np.float32)
        C = rng.normal(size=(B, n)).astype(np.float32)
        y = jax.jit(lambda W: ev.BinaryArray(X) @ W)(W)
        g = jax.jit(jax.grad(lambda W: jnp.sum((ev.BinaryArray(X) @ W) * C)))(W)
        S = (X != 0).astype(np.float64)
        out["err"] = max(out["err"], float(np.max(np.abs(np.asarray(y) - S @ W))),
                         float(np.max(np.abs(np.asarray(g) - S.T @ C))))
        out[kind] = hashlib.sha256(np.asarray(y).tobytes() + np.asarray(g).tobytes()).hexdigest()
    print(json.dumps(out))
""")


def _cpu_has(flag):
    try:
        with open("/proc/cpuinfo") as f:
            return f" {flag}" in f.read()
    except OSError:
        return False


def _run_form(form):
    env = dict(os.environ)
    env.pop("BRAINSIM_DENSE_ISA", None)
    if form is not None:
        env["BRAINSIM_DENSE_ISA"] = form
    r = subprocess.run([sys.executable, "-c", _FORM_SCRIPT], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_instruction_set_forms_agree_bit_for_bit():
    """Every form does the same float32 additions in the same order; only widths differ."""
    widest = _run_form(None)
    forms = {widest["form"]: widest}
    for cap in ("avx2", "portable"):
        r = _run_form(cap)
        if cap == "portable" or _cpu_has("avx2"):
            assert r["form"] == cap
        forms[r["form"]] = r
    if _cpu_has("avx512bw") and _cpu_has("avx512vl"):
        assert widest["form"] == "avx512"
    assert len({(f["f32"], f["bool"]) for f in forms.values()}) == 1, forms
    assert all(f["err"] < 1e-3 for f in forms.values()), forms


def test_unknown_form_is_refused_with_the_fix():
    env = dict(os.environ, BRAINSIM_DENSE_ISA="sse9")
    r = subprocess.run([sys.executable, "-c", "import brainsim.event as ev; ev.kernels_available()"],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "BRAINSIM_DENSE_ISA='sse9' is not a form of the dense-weight kernel" in r.stderr
    assert "How to fix: unset BRAINSIM_DENSE_ISA" in r.stderr


# --------------------------------------------------------------------------- layers.EventLinear
def test_event_linear_on_all_steps_at_once_equals_linear(backend):
    """[T, B, in] spikes: one product over T * B rows; value and weight gradient as Linear's."""
    rng = np.random.default_rng(6)
    w = rng.normal(size=(50, 12)).astype(np.float32)
    x = (rng.random((5, 4, 50)) < 0.3).astype(np.float32)
    C = rng.normal(size=(5, 4, 12)).astype(np.float32)
    fe, fl = layers.EventLinear(50, 12, weight=w), layers.Linear(50, 12, weight=w)
    np.testing.assert_allclose(fe(x), fl(x), rtol=1e-5, atol=1e-5)
    grad = lambda layer: jax.grad(lambda w: jnp.sum(layer._product(x, w) * C))(jnp.asarray(w))
    np.testing.assert_allclose(grad(fe), grad(fl), rtol=1e-5, atol=1e-5)


# the dense layers whose bool input is events: each with the signed weight its product uses
BOOL_LAYERS = {
    "Linear": (lambda w: layers.Linear(50, 12, weight=w), lambda w: w),
    "DaleLinear": (lambda w: layers.DaleLinear(50, 12, n_exc=40, weight=w, self_connections=False),
                   lambda w: abs(w) * np.where(np.arange(50) < 40, 1., -1.)[:, None]
                   * (1. - np.eye(50, 12))),
}


@pytest.mark.parametrize("name", BOOL_LAYERS)
def test_dense_layers_read_bool_input_as_events(backend, name):
    """A bool input to a dense layer: the event product (the kernel on CPU), the float values,
    and the weight gradient of the float product (jax.grad of the hand-written function)."""
    import brainsim

    make, signed = BOOL_LAYERS[name]
    rng = np.random.default_rng(8)
    w = rng.normal(size=(50, 12)).astype(np.float32)
    x = rng.random((5, 4, 50)) < 0.3
    C = rng.normal(size=(5, 4, 12)).astype(np.float32)
    layer = make(w)
    loss = lambda: jnp.sum(layer(x) * C)
    # the forward product, and the weight gradient's transposed product (the forward is dead code
    # in the gradient alone): one kernel call each
    grad = lambda: brainsim.grad(loss, layer.states(brainsim.ParamState))()
    for hlo in (jax.jit(layer.update).lower(x).as_text(), jax.jit(grad).lower().as_text()):
        assert hlo.count("brainsim_dense_events") == (1 if backend == "cpu_kernel" else 0)
    np.testing.assert_allclose(layer(x), x.astype(np.float64) @ signed(w.astype(np.float64)),
                               rtol=1e-5, atol=1e-5)
    ref = jax.grad(lambda w: jnp.sum((x.astype(np.float32) @ signed(w)) * C))(jnp.asarray(w))
    np.testing.assert_allclose(grad()["weight"], ref, rtol=1e-5, atol=1e-5)
    # float spikes keep the GEMM, as torch's nn.Linear
    assert "brainsim_dense_events" not in jax.jit(layer.update).lower(x.astype(np.float32)).as_text()


def test_event_linear_takes_a_dimensionless_quantity():
    w = np.arange(6, dtype=np.float32).reshape(3, 2)
    x = u.Quantity(jnp.array([1., 0., 1.]))
    np.testing.assert_array_equal(layers.EventLinear(3, 2, weight=w)(x), [4., 6.])


def test_event_linear_refuses_a_quantity_input():
    with pytest.raises(TypeError, match=r"EventLinear: the input is spikes .* got a Quantity in mV"):
        layers.EventLinear(3, 2)(jnp.ones(3) * u.mV)
