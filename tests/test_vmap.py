import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import TraceContextError
from _models import MODELS, make


@pytest.mark.parametrize("name", ["lif", "units"])
def test_vmap_equals_loop_over_batch(name):
    B = 3
    xs = jnp.array([0.5, 1.5, 12.0])
    refs = [make(name) for _ in range(B)]
    expected = np.stack([np.asarray(r(x)) for r, x in zip(refs, xs)])
    batched = make(name, batch_size=B)
    step = brainsim.vmap(lambda x: batched(x), batched_states=lambda: batched.states())
    got = step(xs)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-6)
    for p, s in batched.states().items():
        for k, r in enumerate(refs):
            np.testing.assert_allclose(np.asarray(u.get_mantissa(s.value[k])),
                                       np.asarray(u.get_mantissa(r.states()[p].value)), rtol=1e-6)


def test_vmap_inside_jit_and_for_loop():
    B = 4
    batched = make("lif", batch_size=B)
    step = brainsim.vmap(lambda x: batched(x), batched_states=lambda: batched.states())
    run = brainsim.jit(lambda xs: brainsim.for_loop(step, xs))
    xs = jnp.tile(jnp.linspace(0.5, 3.0, B), (10, 1))
    out = run(xs)
    refs = [make("lif") for _ in range(B)]
    expected = np.stack([[refs[b](xs[t, b]) for b in range(B)] for t in range(10)])
    np.testing.assert_array_equal(out, expected)


def test_shared_state_read_by_all_lanes():
    w = brainsim.ParamState(jnp.array(3.0))
    out = brainsim.vmap(lambda x: x * w.value)(jnp.arange(3.0))
    np.testing.assert_array_equal(out, [0.0, 3.0, 6.0])


def test_writing_shared_state_per_lane_is_an_error():
    counter = brainsim.State(jnp.zeros(()), name="counter")

    def f(x):
        counter.value = counter.value + x
        return x

    with pytest.raises(TraceContextError, match=r"\['counter'\] are shared by all lanes"):
        brainsim.vmap(f)(jnp.arange(3.0))
    assert float(counter.value) == 0.0


def test_batch_size_mismatch_names_both():
    model = make("lif", batch_size=2)
    with pytest.raises(ValueError, match="the batch sizes disagree .*state 'LIF.v' has 2.*argument 0 has 3"):
        brainsim.vmap(lambda x: model(x), batched_states=model.states())(jnp.zeros(3))


def test_scalar_batched_state_is_explained():
    s = brainsim.State(jnp.zeros(()), name="s")
    with pytest.raises(ValueError, match="batched state 's' is a scalar"):
        brainsim.vmap(lambda: s.value, batched_states=[s])()
