"""paper_experiments/operators: the dense and BCOO propagations against the event CSR one,
and the script's JSON (tiny run in the default suite, --quick slow)."""
import sys
from pathlib import Path

import brainunit as u
import numpy as np
import pytest

from _paper_run import EXP, run_experiment

sys.path.insert(0, str(EXP))
from _common import build_net  # noqa: E402

from brainsim.runner import Runner, SpikeMonitor  # noqa: E402


def _spikes(prop):
    net = build_net("coba", 0.05, seed=3, prop=prop)       # 200 neurons
    rec = Runner(net, monitors={"s": SpikeMonitor(net.neu)}, progress=False).run(30. * u.ms)["s"]
    return np.asarray(rec.t.to_decimal(u.ms)), np.asarray(rec.i)


def test_dense_and_bcoo_give_the_event_csr_spikes():
    t0, i0 = _spikes("event")
    assert len(i0) > 20                    # the network fires, so propagation matters
    for prop in ("dense", "jax_sparse"):
        t, i = _spikes(prop)
        np.testing.assert_array_equal(i, i0)
        np.testing.assert_allclose(t, t0)


def test_unknown_prop_is_refused():
    with pytest.raises(ValueError, match="prop='bsr'.*expected 'event', 'dense' or 'jax_sparse'"):
        build_net("coba", 0.05, prop="bsr")


def _check(res):
    assert set(res) == {"event_csr_s", "dense_s", "jax_sparse_s", "torch_sparse_s"}
    assert res["torch_sparse_s"] is None                  # TORCH_PYTHON not given
    assert res["event_csr_s"] > 0


def test_tiny_run_json(tmp_path):
    res, err = run_experiment("operators", tmp_path, "--sizes", "400", "--durations", "20",
                              "--chunk-ms", "20", "--ways", "event_csr,torch_sparse")
    _check(res)
    assert res["dense_s"] is None and res["jax_sparse_s"] is None   # not asked for
    assert "torch skipped: set TORCH_PYTHON" in err
    assert (Path(tmp_path) / "operators_quick.png").stat().st_size > 1000


@pytest.mark.slow
def test_quick_run_json(tmp_path):
    res, _ = run_experiment("operators", tmp_path, "--quick")
    _check(res)
    assert res["dense_s"] > 0 and res["jax_sparse_s"] > 0
