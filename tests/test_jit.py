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


# -- a function retraces only when one of its own states is replaced ---------------------
class Acc(brainsim.Module):
    def __init__(self, start=0.0):
        super().__init__(name="acc")
        self.start = start

    def init_state(self, batch_size=None):
        self.total = brainsim.State(jnp.asarray(self.start, jnp.float32))


def _counted(model):
    traces = []

    @brainsim.jit
    def f(x):
        traces.append(x.shape)
        model.total.value = model.total.value + x.sum()
        return x * model.total.value

    return f, traces


def test_creating_unrelated_states_neither_retraces_nor_drops_signatures():
    model = brainsim.init_states(Acc())
    f, traces = _counted(model)
    a, b = jnp.ones(3), jnp.ones((2, 2))
    f(a), f(b)
    assert traces == [(3,), (3,), (2, 2)]       # the first trace discovers the state
    brainsim.random.RandomState(0)              # temporary states, unrelated to f
    brainsim.State(jnp.zeros(7))
    brainsim.init_states(Acc())
    np.testing.assert_allclose(f(a), np.full(3, 3.0 + 4.0 + 3.0))
    np.testing.assert_allclose(f(b), np.full((2, 2), 14.0))
    assert traces == [(3,), (3,), (2, 2)]       # both programs were still cached
    assert float(model.total.value) == 14.0


@pytest.mark.parametrize("keep_old", [False, True])
def test_replacing_its_own_state_retraces_and_uses_the_new_state(keep_old):
    model = brainsim.init_states(Acc())
    f, traces = _counted(model)
    f(jnp.ones(3))
    n = len(traces)
    old = model.total if keep_old else None      # alive or not, it was replaced
    model.start = 100.0
    brainsim.init_states(model)                  # a new State object for model.total
    out = f(jnp.ones(3))
    assert len(traces) > n
    n = len(traces)
    np.testing.assert_allclose(out, np.full(3, 103.0))
    assert float(model.total.value) == 103.0
    if keep_old:
        assert float(old.value) == 3.0           # the replaced state was not written
    f(jnp.ones(3))
    assert len(traces) == n                      # and the new one is cached again


def test_a_state_rebound_in_the_closure_is_rediscovered():
    s = brainsim.State(jnp.asarray(1.0))
    f = brainsim.jit(lambda: s.value * 2)
    assert float(f()) == 2.0
    s = brainsim.State(jnp.asarray(5.0))         # the old state is gone: rediscover
    assert float(f()) == 10.0


# -- static arguments behave as in jax.jit -----------------------------------------------
def _body(x, n, scale=1.0):
    out = x
    for _ in range(n):                  # needs a static n
        out = out + x
    return out * scale


STATIC_CASES = [
    ("argnums, positional", dict(static_argnums=1), [((2.0, 3), {}), ((2.0, 3), {}), ((2.0, 4), {})]),
    ("argnums, by keyword", dict(static_argnums=1), [((2.0,), {"n": 3}), ((2.0,), {"n": 4}),
                                                    ((2.0,), {"n": 3})]),
    ("negative argnums", dict(static_argnums=-1), [((2.0, 3), {}), ((2.0, 2), {})]),
    ("negative, two statics", dict(static_argnums=(-2, -1)), [((2.0, 3, 2), {}), ((2.0, 3, 2.0), {})]),
    ("negative hits scale", dict(static_argnums=-1), [((2.0, 3, 2.0), {})]),
    ("negative, n by keyword", dict(static_argnums=-1), [((2.0,), {"n": 3})]),
    ("argnames, by keyword", dict(static_argnames="n"), [((2.0,), {"n": 3}), ((2.0,), {"n": 3})]),
    ("argnames, positional", dict(static_argnames="n"), [((2.0, 3), {}), ((2.0, 5), {})]),
    ("both names", dict(static_argnames=("n", "scale")),
     [((2.0, 3), {"scale": 2}), ((2.0, 3), {"scale": 2.0}), ((2.0,), {"n": 3, "scale": 2})]),
    ("nums and names", dict(static_argnums=1, static_argnames="scale"),
     [((2.0, 1), {"scale": 3.0}), ((2.0, 1), {"scale": 3.0}), ((2.0,), {"n": 1, "scale": 3.0})]),
]


def _outcome(fn, args, kwargs):
    try:
        return ("ok", float(fn(*args, **kwargs)))
    except Exception as err:                       # compare the kind of failure too
        return ("error", type(err).__name__)


@pytest.mark.parametrize("name, options, calls", STATIC_CASES, ids=[c[0] for c in STATIC_CASES])
def test_static_args_match_jax_jit(name, options, calls):
    jax_traces, bs_traces = [], []
    calls_made = brainsim.State(jnp.zeros(()))

    def pure(x, n, scale=1.0):
        jax_traces.append(1)
        return _body(x, n, scale)

    def stateful(x, n, scale=1.0):
        bs_traces.append(1)
        calls_made.value = calls_made.value + 1
        return _body(x, n, scale)

    ref, got = jax.jit(pure, **options), brainsim.jit(stateful, **options)
    ok_calls = 0
    for args, kwargs in calls:
        n_jax, n_bs = len(jax_traces), len(bs_traces)
        want = _outcome(ref, args, kwargs)
        have = _outcome(got, args, kwargs)
        assert have == want, (args, kwargs)
        # brainsim traces once more to discover its states, so compare whether
        # each call traced, not how often
        assert (len(bs_traces) > n_bs) == (len(jax_traces) > n_jax), (args, kwargs)
        ok_calls += want[0] == "ok"
    assert float(calls_made.value) == ok_calls


def test_static_args_errors_are_clear():
    with pytest.raises(ValueError, match=r"static_argnums=\(2,\) but .* takes only 2 positional"):
        brainsim.jit(lambda x, n: x, static_argnums=2)
    with pytest.raises(ValueError, match=r"static_argnames names \['m'\], but .* no such argument"):
        brainsim.jit(lambda x, n: x, static_argnames="m")
    f = brainsim.jit(lambda x, n: x, static_argnums=1)
    with pytest.raises(TypeError, match="static argument at position 1 is a list, which is not "
                                        "hashable"):
        f(1.0, [1, 2])
    with pytest.raises(TypeError, match="static argument 'n' is a list"):
        f(1.0, n=[1, 2])
