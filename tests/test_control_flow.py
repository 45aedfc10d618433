"""brainsim.cond/switch/while_loop/fori_loop against the same programs written as
pure functions with jax.lax, eagerly and under jit, for_loop, vmap and grad."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import TraceContextError

F32 = dict(rtol=1e-6, atol=1e-6)   # float32 results of the same operations in the same order


class M(brainsim.Module):
    def __init__(self, batch=None):
        super().__init__(name="m")
        shape = (3,) if batch is None else (batch, 3)
        self.a = brainsim.HiddenState(jnp.broadcast_to(jnp.array([0.1, 0.2, 0.3]), shape))
        self.b = brainsim.HiddenState(jnp.ones(shape))
        self.n = brainsim.State(jnp.zeros(shape[:-1], jnp.int32))
        self.w = brainsim.ParamState(jnp.array([0.9, 1.1, 1.3]))


def values(m):
    return {k: s.value for k, s in m.states().items()}


# -- the programs: stateful with brainsim, and pure with jax.lax ----------------------------
def cond_stateful(m, x):
    def up(x):
        m.a.value = m.a.value + m.w.value * x
        return m.a.value.sum()

    def down(x):
        m.b.value = m.b.value - x
        m.n.value = m.n.value + 1
        return -m.b.value.sum() * m.w.value[0]

    return brainsim.cond(x.sum() > 0, up, down, x)


def cond_pure(v, x):
    def up(v, x):
        a = v["a"] + v["w"] * x
        return a.sum(), {**v, "a": a}

    def down(v, x):
        b = v["b"] - x
        return -b.sum() * v["w"][0], {**v, "b": b, "n": v["n"] + 1}

    return jax.lax.cond(x.sum() > 0, up, down, v, x)


def _index(x):
    return (x[0] > 0).astype(jnp.int32) + (x[1] > 0).astype(jnp.int32)


def switch_stateful(m, x):
    def zero(x):
        m.b.value = m.b.value * 2.0
        return m.b.value[0] * m.w.value[1]

    def one(x):
        m.a.value = m.a.value * m.w.value - x
        return m.a.value[1]

    def two(x):
        m.a.value = m.a.value + x
        m.n.value = m.n.value + 2
        return (m.a.value * m.w.value).sum()

    return brainsim.switch(_index(x), [zero, one, two], x)


def switch_pure(v, x):
    def zero(v, x):
        b = v["b"] * 2.0
        return b[0] * v["w"][1], {**v, "b": b}

    def one(v, x):
        a = v["a"] * v["w"] - x
        return a[1], {**v, "a": a}

    def two(v, x):
        a = v["a"] + x
        return (a * v["w"]).sum(), {**v, "a": a, "n": v["n"] + 2}

    return jax.lax.switch(_index(x), [zero, one, two], v, x)


def while_stateful(m, x):
    def body(k):
        m.a.value = m.a.value + jnp.abs(x) * m.w.value + 0.5
        m.n.value = m.n.value + 1
        return k + 1

    # cond_fun reads a state that the body writes: it must see the carried value
    return brainsim.while_loop(lambda k: (m.a.value.sum() < 6.0) & (k < 20), body, 0)


def while_pure(v, x):
    def body(c):
        k, v = c
        return k + 1, {**v, "a": v["a"] + jnp.abs(x) * v["w"] + 0.5, "n": v["n"] + 1}

    k, v = jax.lax.while_loop(lambda c: (c[1]["a"].sum() < 6.0) & (c[0] < 20), body, (0, v))
    return k, v


def fori_stateful(m, x):
    def body(i, acc):
        m.a.value = m.a.value * m.w.value + x[i % 3]
        m.b.value = m.b.value.at[i % 3].add(acc)
        return acc + m.a.value.sum()

    return brainsim.fori_loop(0, 4, body, 0.0)


def fori_pure(v, x):
    def body(i, c):
        acc, v = c
        a = v["a"] * v["w"] + x[i % 3]
        b = v["b"].at[i % 3].add(acc)
        return acc + a.sum(), {**v, "a": a, "b": b}

    return jax.lax.fori_loop(0, 4, body, (0.0, v))


def nested_stateful(m, x):
    # cond inside a fori_loop body: both carry the states
    def body(i, acc):
        return acc + cond_stateful(m, x * (1.0 - 0.8 * i))

    return brainsim.fori_loop(0, 3, body, 0.0)


def nested_pure(v, x):
    def body(i, c):
        acc, v = c
        out, v = cond_pure(v, x * (1.0 - 0.8 * i))
        return acc + out, v

    return jax.lax.fori_loop(0, 3, body, (0.0, v))


CASES = {
    "cond": (cond_stateful, cond_pure),
    "switch": (switch_stateful, switch_pure),
    "while_loop": (while_stateful, while_pure),
    "fori_loop": (fori_stateful, fori_pure),
    "cond in fori_loop": (nested_stateful, nested_pure),
}
# inputs that take different branches (and different numbers of while iterations)
XS = jnp.array([[1.0, 0.5, -0.2], [-1.0, -0.5, 0.2], [0.3, -0.9, 0.1], [-0.2, 0.4, 0.6]])


def assert_values_close(got, want):
    assert got.keys() == want.keys()
    for k in want:
        if jnp.issubdtype(want[k].dtype, jnp.integer):
            np.testing.assert_array_equal(np.asarray(got[k]), np.asarray(want[k]), err_msg=k)
        else:
            np.testing.assert_allclose(np.asarray(got[k]), np.asarray(want[k]), **F32, err_msg=k)


def reference(pure, v, xs):
    outs = []
    for x in xs:
        out, v = pure(v, x)
        outs.append(out)
    return np.stack([np.asarray(o) for o in outs]), v


@pytest.mark.parametrize("mode", ["eager", "jit"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_pure_jax_eager_and_jit(name, mode):
    stateful, pure = CASES[name]
    m = M()
    want_out, want_v = reference(pure, values(m), XS)
    f = (lambda x: stateful(m, x)) if mode == "eager" else brainsim.jit(lambda x: stateful(m, x))
    got_out = np.stack([np.asarray(f(x)) for x in XS])
    np.testing.assert_allclose(got_out, want_out, **F32)
    assert_values_close(values(m), want_v)


@pytest.mark.parametrize("jitted", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_pure_jax_inside_for_loop(name, jitted):
    stateful, pure = CASES[name]
    m = M()
    want_out, want_v = reference(pure, values(m), XS)
    run = lambda: brainsim.for_loop(lambda x: stateful(m, x), XS)  # noqa: E731
    got_out = brainsim.jit(run)() if jitted else run()
    np.testing.assert_allclose(np.asarray(got_out), want_out, **F32)
    assert_values_close(values(m), want_v)


@pytest.mark.parametrize("name", list(CASES))
def test_matches_pure_jax_under_vmap_with_per_lane_predicates(name):
    stateful, pure = CASES[name]
    m = M(batch=len(XS))
    v0 = values(m)
    axes = {k: (None if k == "w" else 0) for k in v0}
    want_out, want_v = jax.vmap(pure, in_axes=(axes, 0), out_axes=(0, axes))(v0, XS)
    got_out = brainsim.vmap(lambda x: stateful(m, x), batched_states=[m.a, m.b, m.n])(XS)
    np.testing.assert_allclose(np.asarray(got_out), np.asarray(want_out), **F32)
    assert_values_close(values(m), want_v)


@pytest.mark.parametrize("row", [0, 1, 2, 3])
@pytest.mark.parametrize("name", ["cond", "switch", "fori_loop", "cond in fori_loop"])
def test_gradient_matches_jax_grad_of_the_pure_program(name, row):
    stateful, pure = CASES[name]
    x = XS[row]
    m = M()
    v0 = values(m)

    def ref_loss(w):
        out, v = pure({**v0, "w": w}, x)
        return out + (v["a"] * v["b"]).sum()

    want_g = jax.grad(ref_loss)(v0["w"])
    _, want_v = pure(v0, x)

    def loss():
        out = stateful(m, x)
        return out + (m.a.value * m.b.value).sum()

    g = brainsim.grad(loss, grad_states={"w": m.w})()
    np.testing.assert_allclose(np.asarray(g["w"]), np.asarray(want_g), **F32)
    assert float(jnp.abs(want_g).sum()) > 0                 # the gradient is not trivially 0
    assert_values_close(values(m), want_v)                  # the forward's writes are kept


def test_while_loop_is_not_reverse_differentiable_as_in_jax():
    m = M()
    v0 = values(m)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(lambda w: while_pure({**v0, "w": w}, XS[0])[1]["a"].sum())(v0["w"])
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        brainsim.grad(lambda: (while_stateful(m, XS[0]), m.a.value.sum())[1],
                      grad_states=[m.w])()
    assert_values_close(values(m), v0)


def test_random_numbers_in_a_branch_advance_the_key():
    def draw():
        return brainsim.random.uniform(size=2)

    f = brainsim.jit(lambda p: brainsim.cond(p, draw, lambda: jnp.zeros(2)))
    a, b = f(True), f(True)
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_array_equal(np.asarray(f(False)), [0.0, 0.0])


def test_cond_fun_may_not_write_states():
    s = brainsim.State(jnp.zeros(()), name="s")

    def bad_cond(k):
        s.value = s.value + 1
        return k < 3

    with pytest.raises(TraceContextError, match=r"cond_fun wrote state\(s\) \['s'\]"):
        brainsim.while_loop(bad_cond, lambda k: k + 1, 0)
    assert float(s.value) == 0.0


# -- raw jax.lax control flow that writes a state is a clear error ---------------------------
class Net(brainsim.Module):
    def __init__(self):
        super().__init__(name="net")
        self.v = brainsim.State(jnp.zeros(3))


def _write(net):
    def f(x):
        net.v.value = net.v.value + x
        return x
    return f


RAW = {
    "lax.cond": lambda f, x: jax.lax.cond(x.sum() > 0, f, lambda x: x, x),
    "lax.switch": lambda f, x: jax.lax.switch(1, [lambda x: x, f], x),
    "lax.while_loop": lambda f, x: jax.lax.while_loop(lambda c: c.sum() < 10, f, x),
    "lax.fori_loop": lambda f, x: jax.lax.fori_loop(0, 3, lambda i, c: f(c), x),
    "lax.scan": lambda f, x: jax.lax.scan(lambda c, _: (f(c), None), x, length=2)[0],
}


@pytest.mark.parametrize("where", ["jit", "for_loop", "grad", "eager"])
@pytest.mark.parametrize("raw", list(RAW))
def test_raw_lax_control_flow_writing_a_state_names_it(raw, where):
    net = Net()
    call = RAW[raw]
    f = _write(net)
    if where == "eager":
        match = "State 'net.v' was assigned a JAX tracer outside any brainsim transform"
        run = lambda: call(f, jnp.ones(3))  # noqa: E731
    else:
        match = "State 'net.v' was written inside a raw JAX transform"
        run = {
            "jit": lambda: brainsim.jit(lambda x: call(f, x))(jnp.ones(3)),
            "for_loop": lambda: brainsim.for_loop(lambda: call(f, jnp.ones(3)), length=2),
            "grad": lambda: brainsim.grad(lambda x: call(f, x).sum())(jnp.ones(3)),
        }[where]
    with pytest.raises(TraceContextError, match=match) as info:
        run()
    assert "brainsim.cond, brainsim.switch, brainsim.while_loop, brainsim.fori_loop" in str(
        info.value)
    np.testing.assert_array_equal(np.asarray(net.v.value), np.zeros(3))


def test_exported_with_all():
    for name in ["cond", "switch", "while_loop", "fori_loop"]:
        assert name in brainsim.__all__ and name in brainsim.transforms.__all__
        assert getattr(brainsim, name) is getattr(brainsim.transforms, name)


def test_shared_state_written_under_a_per_lane_predicate_is_refused_by_vmap():
    m = M(batch=len(XS))
    before = values(m)
    shared = brainsim.State(jnp.zeros(()), name="shared")

    def step(x):
        def up():
            shared.value = shared.value + 1.0
        brainsim.cond(x.sum() > 0, up, lambda: None)
        return x

    with pytest.raises(TraceContextError, match=r"\['shared'\] are shared by all lanes"):
        brainsim.vmap(step, batched_states=[m.a])(XS)
    assert float(shared.value) == 0.0
    assert_values_close(values(m), before)
