import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import StateValueError, TraceContextError, UnitMismatchError


class Syn(brainsim.Module):
    def __init__(self):
        super().__init__()
        self.g = brainsim.HiddenState(jnp.zeros(4) * u.nS)


class Pop(brainsim.Module):
    def __init__(self):
        super().__init__()
        self.syn = Syn()


class Net(brainsim.Module):
    def __init__(self):
        super().__init__(name="net")
        self.E = Pop()


def test_value_reads_and_writes():
    s = brainsim.State(jnp.arange(3.0))
    s.value = s.value * 2
    np.testing.assert_array_equal(s.value, [0.0, 2.0, 4.0])


def test_numpy_and_scalars_become_jax_arrays():
    s = brainsim.State(np.zeros(3))
    assert isinstance(s.value, jax.Array)
    s.value = np.ones(3, dtype=np.float32)
    assert isinstance(s.value, jax.Array)
    t = brainsim.State(jnp.float32(1.0))
    t.value = 2.0  # a Python scalar takes the state's dtype
    assert t.value.dtype == jnp.float32


@pytest.mark.parametrize(
    "new, error, match",
    [
        (jnp.zeros(5) * u.nS, StateValueError, r"shape \(5,\) to state 'net\.E\.syn\.g' of shape \(4,\)"),
        (jnp.zeros(4, jnp.int32) * u.nS, StateValueError, r"dtype int32 to state 'net\.E\.syn\.g' of dtype float32"),
        (jnp.zeros(4) * u.mV, UnitMismatchError, r"unit mV to state 'net\.E\.syn\.g', which holds unit nS"),
        (jnp.zeros(4), UnitMismatchError, r"dimensionless \(a plain array\) to state 'net\.E\.syn\.g'"),
        ((jnp.zeros(4) * u.nS, jnp.zeros(4) * u.nS), StateValueError, r"structure"),
    ],
)
def test_bad_write_names_path_and_keeps_value(new, error, match):
    net = Net()
    before = net.E.syn.g.value
    with pytest.raises(error, match=match):
        net.E.syn.g.value = new
    assert net.E.syn.g.value is before


def test_unit_mismatch_is_also_a_value_error():
    s = brainsim.State(jnp.zeros(2) * u.mV)
    with pytest.raises(ValueError, match="unit"):
        s.value = jnp.zeros(2) * u.second


def test_replace_allows_new_shape():
    s = brainsim.HiddenState(jnp.zeros(3))
    s.replace(jnp.zeros((2, 3)))
    assert s.value.shape == (2, 3)


def test_unnamed_state_uses_label():
    s = brainsim.State(jnp.zeros(2), name="my-state")
    with pytest.raises(StateValueError, match="'my-state'"):
        s.value = jnp.zeros(3)


def test_creating_state_inside_trace_is_an_error():
    @brainsim.jit
    def f():
        return brainsim.State(jnp.zeros(2)).value

    with pytest.raises(TraceContextError, match="created inside a function that a brainsim transform"):
        f()


def test_tracer_leak_outside_transform_is_an_error():
    s = brainsim.State(jnp.zeros(2))

    def f(x):
        s.value = x
        return x.sum()

    with pytest.raises(TraceContextError, match="assigned a JAX tracer outside any brainsim transform"):
        jax.jit(f)(jnp.ones(2))
    np.testing.assert_array_equal(s.value, [0.0, 0.0])


def test_state_repr_shows_path_shape_and_unit():
    net = Net()
    r = repr(net.E.syn.g)
    assert "net.E.syn.g" in r and "(4,)" in r and "nS" in r


def test_typed_prng_key_state_accepts_keys_and_checks_them():
    s = brainsim.State(jax.random.key(0), name="k")
    s.value = jax.random.key(1)
    np.testing.assert_array_equal(jax.random.key_data(s.value), jax.random.key_data(jax.random.key(1)))
    with pytest.raises(StateValueError, match="dtype key<rbg> to state 'k' of dtype key<fry>"):
        s.value = jax.random.key(1, impl="rbg").reshape(())
