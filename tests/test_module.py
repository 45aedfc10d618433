import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim


class Leaf(brainsim.Module):
    def __init__(self, n=2):
        super().__init__()
        self.w = brainsim.ParamState(jnp.ones(n))
        self.h = brainsim.HiddenState(jnp.zeros(n))


class Tree(brainsim.Module):
    def __init__(self):
        super().__init__(name="tree")
        self.a = Leaf()
        self.many = [Leaf(), Leaf()]
        self.table = {"x": Leaf(), "s": brainsim.LongTermState(jnp.zeros(1))}


def test_states_discovers_lists_and_dicts_in_order():
    paths = list(Tree().states())
    assert paths == [
        "a.w", "a.h", "many.0.w", "many.0.h", "many.1.w", "many.1.h",
        "table.x.w", "table.x.h", "table.s",
    ]


@pytest.mark.parametrize(
    "flt, expected",
    [
        (brainsim.ParamState, ["a.w", "many.0.w", "many.1.w", "table.x.w"]),
        (brainsim.HiddenState, ["a.h", "many.0.h", "many.1.h", "table.x.h"]),
        ((brainsim.LongTermState,), ["table.s"]),
        (lambda path, s: path.startswith("many.1"), ["many.1.w", "many.1.h"]),
    ],
)
def test_states_filter(flt, expected):
    assert list(Tree().states(flt)) == expected


def test_bad_filter_is_a_type_error():
    with pytest.raises(TypeError, match="states\\(filter=...\\) takes a State subclass"):
        Tree().states(filter=3)


def test_shared_module_listed_once():
    shared = Leaf()

    class Two(brainsim.Module):
        def __init__(self):
            super().__init__()
            self.p = shared
            self.q = shared

    assert list(Two().states()) == ["p.w", "p.h"]
    assert len(Two().modules()) == 1


def test_modules_lists_children_parents_first():
    t = Tree()
    names = list(t.named_modules())
    assert names == ["a", "many.0", "many.1", "table.x"]
    assert t.modules()[0] is t.a


def test_repr_is_readable():
    r = repr(Tree())
    assert r.startswith("Tree(") and "a=Leaf(" in r and "many.0=Leaf(" in r
    assert "ParamState('tree.a.w', shape=(2,), dtype=float32)" in r


def test_forgetting_super_init_is_explained():
    class Bad(brainsim.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(TypeError, match="must call super\\(\\).__init__\\(\\)"):
        Bad()


class Counter(brainsim.DynamicsModule):
    def init_state(self, batch_size=None):
        self.n = brainsim.HiddenState(jnp.zeros(self.batched_shape(batch_size)))

    def update(self, x=0.0):
        self.n.value = self.sum_delta_inputs(self.n.value + self.sum_current_inputs(x))
        return self.n.value


def test_dynamics_module_sizes():
    c = Counter((2, 3))
    assert c.in_size == (2, 3) and c.varshape == (2, 3)
    assert Counter(5).varshape == (5,)
    with pytest.raises(ValueError, match="in_size must hold non-negative ints"):
        Counter((2, -1))
    with pytest.raises(TypeError, match="in_size must be an int or a tuple of ints"):
        Counter("abc" and 2.5)


def test_init_and_reset_states_with_batch():
    class Net(brainsim.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = Counter(3), Counter(4)

    net = brainsim.init_states(Net(), batch_size=2)
    assert net.c1.n.value.shape == (2, 3) and net.c2.n.value.shape == (2, 4)
    net.c1.n.value = jnp.ones((2, 3))
    brainsim.reset_states(net)
    assert net.c1.n.value.shape == (3,) and float(net.c1.n.value.sum()) == 0.0
    with pytest.raises(ValueError, match="batch_size must be None or a positive int"):
        brainsim.init_states(net, batch_size=0)


def test_inputs_callables_persist_values_used_once():
    c = brainsim.init_states(Counter(2))
    c.add_current_input("drive", lambda: jnp.ones(2))
    c.add_current_input("pulse", jnp.full(2, 10.0))
    c.add_delta_input("kick", jnp.full(2, 100.0))
    np.testing.assert_allclose(c(), [111.0, 111.0])   # 0 + 1 + 10, then + 100
    np.testing.assert_allclose(c(), [112.0, 112.0])   # only the callable remains
    assert c.input_keys() == {"current": ["drive"], "delta": []}
    with pytest.raises(ValueError, match="already registered under key 'drive'"):
        c.add_current_input("drive", lambda: 0.0)
    c.remove_input("drive")
    with pytest.raises(KeyError, match="No input registered under key 'drive'"):
        c.remove_input("drive")


def test_update_must_be_defined():
    class NoUpdate(brainsim.DynamicsModule):
        pass

    with pytest.raises(TypeError, match="does not define update\\(\\)"):
        NoUpdate(1)()


def test_inputs_are_not_discovered_as_children():
    a, b = Counter(2), Counter(2)
    b.add_current_input("from_a", a)
    assert b.modules() == [] and list(b.states()) == []


def test_split_and_merge_round_trip_through_pure_jax():
    import jax
    t = Tree()
    vals = brainsim.split_states(t, brainsim.ParamState)
    new = jax.jit(lambda v: jax.tree_util.tree_map(lambda x: x * 2, v))(vals)
    brainsim.merge_states(t, new)
    np.testing.assert_array_equal(t.a.w.value, [2.0, 2.0])


def test_merge_unknown_path_suggests_near_miss_and_changes_nothing():
    t = Tree()
    with pytest.raises(KeyError, match="has no state 'a.ww'; did you mean 'a.w'"):
        brainsim.merge_states(t, {"a.h": jnp.ones(2), "a.ww": jnp.ones(2)})
    np.testing.assert_array_equal(t.a.h.value, [0.0, 0.0])
    with pytest.raises(ValueError, match=r"shape \(3,\) to state 'tree.a.h'"):
        brainsim.merge_states(t, {"a.w": jnp.zeros(2), "a.h": jnp.ones(3)})
    np.testing.assert_array_equal(t.a.w.value, [1.0, 1.0])


class Noisy(brainsim.DynamicsModule):
    def init_state(self, batch_size=None):
        shape = self.batched_shape(batch_size)
        self.v = brainsim.HiddenState(brainsim.random.normal(0.0, 1.0, size=shape))
        self.pair = [brainsim.HiddenState(jnp.zeros(shape)), brainsim.HiddenState(jnp.ones(shape))]

    def update(self, x):
        self.v.value = self.v.value + x
        return self.v.value


def test_reset_keeps_state_objects_and_compiled_cache():
    m = brainsim.init_states(Noisy(3))
    v_obj, pair_obj = m.v, m.pair[1]
    traces = []

    @brainsim.jit
    def step(x):
        traces.append(1)
        return m(x)

    step(1.0)
    n = len(traces)
    m.pair[1].value = jnp.full(3, 5.0)
    brainsim.reset_states(m)
    assert m.v is v_obj and m.pair[1] is pair_obj
    np.testing.assert_array_equal(m.pair[1].value, [1.0, 1.0, 1.0])
    step(1.0)
    assert len(traces) == n   # same states, same shapes: no retrace


def test_reset_inside_jit_draws_fresh_values_like_eager():
    brainsim.random.seed(5)
    m = brainsim.init_states(Noisy(4))
    brainsim.random.seed(9)
    @brainsim.jit
    def reset():
        brainsim.reset_states(m)

    reset()
    in_jit = np.asarray(m.v.value)
    brainsim.random.seed(9)
    brainsim.reset_states(m)
    np.testing.assert_allclose(np.asarray(m.v.value), in_jit, rtol=1e-6)


def test_reset_with_new_batch_size_outside_jit_and_error_inside():
    m = brainsim.init_states(Noisy(2))
    brainsim.reset_states(m, batch_size=5)
    assert m.v.value.shape == (5, 2) and m.pair[0].value.shape == (5, 2)
    @brainsim.jit
    def reset_to_3():
        brainsim.reset_states(m, batch_size=3)

    with pytest.raises(brainsim.errors.TraceContextError,
                       match=r"reset_state inside a traced function changed the shape of 'Noisy.v'"):
        reset_to_3()
    assert m.v.value.shape == (5, 2)
