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
    (0.1, UnitMismatchError, r"dt must be a time quantity: expected a positive, finite.*got 0.1 \(float\)"),
    (0.1 * u.mV, UnitMismatchError, r"dt must be a time quantity.*got 0.1 mV"),
    (-0.1 * u.ms, ValueError, r"dt must be a positive scalar time: expected .*; got -0.1 ms"),
    (0.0 * u.ms, ValueError, r"dt must be a positive scalar time: expected .*; got 0\.? ms"),
    (float("inf") * u.ms, ValueError, r"dt must be a positive scalar time: expected .*finite.*got inf ms"),
    (float("nan") * u.ms, ValueError, r"dt must be a positive scalar time: expected .*got nan ms"),
    (jnp.ones(2) * u.ms, ValueError, r"dt must be a scalar: expected .*got shape \(2,\)"),
])
@pytest.mark.parametrize("how", ["set", "context"])
def test_bad_dt_is_refused_and_changes_nothing(bad, error, match, how):
    brainsim.environ.set(dt=0.5 * u.ms)
    with pytest.raises(error, match=match):
        if how == "set":
            brainsim.environ.set(dt=bad)
        else:
            with brainsim.environ.context(dt=bad):
                pass
    assert brainsim.environ.get_dt() == 0.5 * u.ms
    assert brainsim.environ.signature() == (("dt", ("Quantity", 0.5, "ms")),)


@pytest.mark.parametrize("how", ["set", "context"])
def test_unknown_setting_suggests_the_close_name(how):
    brainsim.environ.set(dt=0.5 * u.ms)
    with pytest.raises(TypeError, match=rf"environ.{how}\(\) got an unknown setting 'dtt'\. "
                                        r"Did you mean 'dt'\?"):
        if how == "set":
            brainsim.environ.set(dt=0.2 * u.ms, dtt=0.1 * u.ms)
        else:
            with brainsim.environ.context(dtt=0.1 * u.ms):
                pass
    assert brainsim.environ.get_dt() == 0.5 * u.ms   # nothing was set, not even the valid dt
    with pytest.raises(TypeError, match="unknown setting 'speed'. Known settings: 'dt'"):
        brainsim.environ.set(speed=3)


@pytest.mark.parametrize("default", [(), (None,)])
def test_get_of_an_unknown_setting_suggests_the_close_name(default):
    """A typo read with a default would silently give the default; it is refused either way."""
    brainsim.environ.set(dt=0.5 * u.ms)
    with pytest.raises(TypeError, match=r"environ.get\(\) got an unknown setting 'dtt'\. "
                                        r"Did you mean 'dt'\?"):
        brainsim.environ.get("dtt", *default)
    with pytest.raises(ValueError, match=r"'t' is the loop clock.*brainsim.environ.get_t\(\)"):
        brainsim.environ.get("t", *default)
    assert brainsim.environ.get("dt", *default) == 0.5 * u.ms


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
