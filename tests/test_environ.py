import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import UnitMismatchError


def test_get_dt_without_setting_says_how():
    with pytest.raises(ValueError, match=r"brainsim.environ.set\(dt=0.1 \* u.ms\)"):
        brainsim.environ.get_dt()


def test_context_and_global():
    brainsim.environ.set(dt=0.5 * u.ms)
    with brainsim.environ.context(dt=0.1 * u.ms):
        assert brainsim.environ.get_dt() == 0.1 * u.ms
    assert brainsim.environ.get_dt() == 0.5 * u.ms


@pytest.mark.parametrize("bad, error, match", [
    (0.1, UnitMismatchError, "dt must be a time quantity"),
    (0.1 * u.mV, UnitMismatchError, "dt must be a time quantity"),
    (-0.1 * u.ms, ValueError, "dt must be a positive scalar time"),
])
def test_bad_dt(bad, error, match):
    with pytest.raises(error, match=match):
        brainsim.environ.set(dt=bad)


def test_clock_cannot_be_set():
    with pytest.raises(ValueError, match="'t' is the loop clock"):
        brainsim.environ.set(t=1.0)


def test_t_and_i_advance_inside_for_loop():
    with brainsim.environ.context(dt=0.25 * u.ms):
        ts, is_ = brainsim.for_loop(
            lambda: (brainsim.environ.get_t(), brainsim.environ.get_i()), length=4, i0=2)
    np.testing.assert_allclose(ts.to_decimal(u.ms), [0.5, 0.75, 1.0, 1.25])
    np.testing.assert_array_equal(is_, [2, 3, 4, 5])


def test_t_outside_loop_is_explained():
    with pytest.raises(ValueError, match="only defined inside brainsim.for_loop"):
        brainsim.environ.get_t()


def test_jit_recompiles_when_dt_changes():
    traces = []

    @brainsim.jit
    def f(x):
        traces.append(1)
        return x * brainsim.environ.get_dt().to_decimal(u.ms)

    with brainsim.environ.context(dt=0.1 * u.ms):
        assert float(f(jnp.float32(1.0))) == pytest.approx(0.1)
    with brainsim.environ.context(dt=0.2 * u.ms):
        assert float(f(jnp.float32(1.0))) == pytest.approx(0.2)
    n = len(traces)
    with brainsim.environ.context(dt=0.1 * u.ms):
        assert float(f(jnp.float32(1.0))) == pytest.approx(0.1)
    assert len(traces) == n  # back to a seen dt: cached, not retraced
