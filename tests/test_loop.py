import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import TraceContextError
from _models import MODELS, make, snapshot


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("progress", [False, 7])
def test_for_loop_equals_python_loop(name, progress, capsys):
    xs = jnp.linspace(0.2, 3.0, 23)
    brainsim.random.seed(4)
    ref = make(name)
    expected = np.stack([np.asarray(ref(x)) for x in xs])
    brainsim.random.seed(4)
    model = make(name)
    got = brainsim.for_loop(lambda x: model(x), xs, progress=progress)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-5, atol=1e-6)
    for (p, a), (_, b) in zip(snapshot(ref).items(), snapshot(model).items()):
        assert type(a) is type(b), p   # units survive the loop
        np.testing.assert_allclose(np.asarray(u.get_mantissa(a)), np.asarray(u.get_mantissa(b)),
                                   rtol=1e-5, atol=1e-6)


def test_for_loop_under_jit_equals_python_loop():
    xs = jnp.linspace(0.2, 3.0, 50)
    ref = make("lif")
    expected = np.stack([ref(x) for x in xs])
    model = make("lif")
    run = brainsim.jit(lambda xs: brainsim.for_loop(model, xs, progress=True))
    np.testing.assert_array_equal(run(xs), expected)      # the spikes: bit for bit
    # v within an ulp or two: under jax 0.12.1 the compiled loop rounds v differently from the
    # op-by-op eager run (1 ulp of 0.56 after 50 steps, at 256 and 512 bits; jax 0.10: none)
    np.testing.assert_allclose(model.v.value, ref.v.value, rtol=3e-7)


def test_multiple_xs_and_pytree_outputs():
    s = brainsim.State(jnp.zeros(()))

    def body(a, b):
        s.value = s.value + a * b
        return {"acc": s.value, "a": a}

    out = brainsim.for_loop(body, jnp.arange(4.0), jnp.full(4, 2.0))
    np.testing.assert_array_equal(out["acc"], [0.0, 2.0, 6.0, 12.0])
    np.testing.assert_array_equal(out["a"], [0.0, 1.0, 2.0, 3.0])


def test_scan_with_carry():
    s = brainsim.State(jnp.float32(1.0))

    def body(c, x):
        s.value = s.value * 2
        return c + x * s.value, c

    c, ys = brainsim.scan(body, jnp.float32(0.0), jnp.arange(3.0))
    # s: 2, 4, 8; c: 0 -> 0 -> 4 -> 20
    assert float(c) == 20.0 and ys.tolist() == [0.0, 0.0, 4.0]
    assert float(s.value) == 8.0


@pytest.mark.parametrize("kwargs, match", [
    ({}, "give length=... when there are no xs"),
    ({"length": -1}, "length must be a non-negative int"),
])
def test_bad_length(kwargs, match):
    with pytest.raises(ValueError, match=match):
        brainsim.for_loop(lambda: 0.0, **kwargs)


def test_mismatched_xs_lengths():
    with pytest.raises(ValueError, match=r"different leading lengths \[3, 4\]"):
        brainsim.for_loop(lambda a, b: a, jnp.zeros(3), jnp.zeros(4))


def test_progress_bar_reports_to_stderr(capsys):
    brainsim.for_loop(lambda: 1.0, length=200, progress=True)
    err = capsys.readouterr().err
    assert "200/200" in err


def test_progress_bar_adds_no_per_step_callback():
    # The compiled loop has one callback per chunk, not per step: count them in the jaxpr.
    def run():
        return brainsim.for_loop(lambda: 1.0, length=1000, progress=100)

    jaxpr = jax.make_jaxpr(run)()
    text = str(jaxpr)
    assert text.count("debug_callback[") == 1   # inside the outer (chunk) scan only
    assert "length=10" in text and "length=100" in text


def test_failed_loop_leaves_states_unchanged():
    s = brainsim.State(jnp.zeros(2))

    def body():
        s.value = s.value + 1
        return jnp.dot(s.value, jnp.ones(3))

    with pytest.raises(TypeError):
        brainsim.for_loop(body, length=3)
    np.testing.assert_array_equal(s.value, [0.0, 0.0])


def test_state_written_only_in_one_trace_is_explained():
    a = brainsim.State(jnp.zeros(()))
    b = brainsim.State(jnp.zeros(()))
    calls = []

    def body():
        calls.append(1)
        a.value = a.value + 1
        if len(calls) > 1:  # Python-side branching that differs between traces
            b.value = b.value + 1
        return a.value

    with pytest.raises(TraceContextError, match="wrote state\\(s\\) .* in one trace but not in another"):
        brainsim.for_loop(body, length=2)
