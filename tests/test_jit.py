import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from _models import MODELS, make, snapshot


def assert_tree_equal(a, b):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize("name", list(MODELS))
def test_jit_equals_eager(name):
    xs = jnp.linspace(0.5, 2.0, 3)
    brainsim.random.seed(1)
    eager = make(name)
    out_e = [eager(x) for x in xs]
    brainsim.random.seed(1)
    comp = make(name)
    step = brainsim.jit(lambda x: comp(x))
    out_c = [step(x) for x in xs]
    for a, b in zip(out_e, out_c):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)
    for (pa, a), (pb, b) in zip(snapshot(eager).items(), snapshot(comp).items()):
        assert pa == pb
        assert type(a) is type(b)  # units survive
        np.testing.assert_allclose(np.asarray(u.get_mantissa(a)), np.asarray(u.get_mantissa(b)),
                                   rtol=1e-6, atol=1e-6)


def test_second_call_does_not_retrace():
    model = make("lif")
    traces = []

    @brainsim.jit
    def step(x):
        traces.append(1)
        return model(x)

    step(jnp.float32(1.0))
    n = len(traces)
    for _ in range(3):
        step(jnp.float32(1.5))
    assert len(traces) == n


def test_shape_change_retraces_and_gives_correct_values():
    model = make("lif")
    step = brainsim.jit(lambda x: model(x))
    step(jnp.ones(5) * 0.5)
    brainsim.init_states(model, batch_size=3)   # new State objects, new shapes
    out = step(jnp.full((3, 5), 5.0))
    assert out.shape == (3, 5)
    np.testing.assert_allclose(model.v.value, np.full((3, 5), 0.5))  # 0 + (5 - 0)/10
    model.v.replace(jnp.zeros((2, 5)))                                # same objects, new shape
    out = step(jnp.full((2, 5), 5.0))
    np.testing.assert_allclose(model.v.value, np.full((2, 5), 0.5))


def test_dtype_change_retraces():
    s = brainsim.State(jnp.zeros(3, jnp.float32))
    f = brainsim.jit(lambda: s.value + 1)
    assert f().dtype == jnp.float32
    s.replace(jnp.zeros(3, jnp.int32))
    assert f().dtype == jnp.int32


def test_writes_back_only_after_success_and_keeps_state_on_error():
    s = brainsim.State(jnp.zeros(2))

    @brainsim.jit
    def bad(x):
        s.value = s.value + 1
        return jnp.dot(x, jnp.ones(3))  # shape error while tracing

    with pytest.raises(TypeError):
        bad(jnp.ones(2))
    np.testing.assert_array_equal(s.value, [0.0, 0.0])


def test_static_argnums():
    s = brainsim.State(jnp.zeros(()))

    @brainsim.jit(static_argnums=1)
    def f(x, times):
        for _ in range(times):
            s.value = s.value + x
        return s.value

    assert float(f(1.0, 3)) == 3.0
    assert float(f(1.0, 2)) == 5.0


def test_nested_jit_inside_for_loop():
    model = make("lif")
    step = brainsim.jit(lambda x: model(x))
    outs = brainsim.jit(lambda: brainsim.for_loop(step, jnp.full(20, 1.5)))()
    ref = make("lif")
    expected = np.stack([ref(1.5) for _ in range(20)])
    np.testing.assert_array_equal(outs, expected)
    np.testing.assert_allclose(model.v.value, ref.v.value)


def test_state_found_later_is_added():
    a = brainsim.State(jnp.zeros(()))
    b = brainsim.State(jnp.zeros(()))

    @brainsim.jit(static_argnums=0)
    def f(use_b):
        a.value = a.value + 1
        if use_b:
            b.value = b.value + 10
        return a.value

    f(False)
    f(True)
    f(False)
    assert float(a.value) == 3.0 and float(b.value) == 10.0
