"""paper_experiments/jit_connectivity: the JITC event matvec against the dense product of its
``todense()``, CSR against dense on the same synapses, the COBA-with-JITC network, and the
script's JSON (hidden ``--smoke`` run, slow: it starts one subprocess per format and size)."""
import importlib.util
import sys

import jax
import numpy as np
import pytest

from _paper_run import EXP, run_experiment

sys.path.insert(0, str(EXP))
sys.path.insert(0, str(EXP / "jit_connectivity"))
_spec = importlib.util.spec_from_file_location("jit_connectivity_run", EXP / "jit_connectivity" / "run.py")
jc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(jc)


def _spikes(reps, n, seed=1):
    return jax.random.bernoulli(jax.random.PRNGKey(seed), 0.05, (reps, n))


def test_jitc_matvec_equals_dense_of_todense():
    n = 400
    M = jc.build_matrix("jitc", n, seed=2)
    S = _spikes(7, n)
    got = np.asarray(jc.matvecs(M, S))
    ref = np.asarray(S, np.float64).sum(0) @ np.asarray(M.todense(), np.float64)
    assert ref.max() > 0                                  # some synapses are hit
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # about 80 synapses per row (p = 80 / N)
    assert 70 < np.count_nonzero(np.asarray(M.todense())) / n < 90


def test_csr_and_dense_give_the_same_matvecs():
    n = 300
    S = _spikes(5, n, seed=4)
    csr = np.asarray(jc.matvecs(jc.build_matrix("csr", n, 3), S))
    dense = np.asarray(jc.matvecs(jc.build_matrix("dense", n, 3), S))
    W = np.asarray(jc.build_matrix("csr", n, 3).todense(), np.float64)
    np.testing.assert_allclose(csr, np.asarray(S, np.float64).sum(0) @ W, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dense, csr, rtol=1e-5, atol=1e-5)


def test_worker_reports_time_and_memory():
    r = jc.worker_matvec("jitc", 500, 3, 0)
    assert r["n"] == 500 and r["reps"] == 3 and r["time_s"] > 0
    assert r["mem_mb"] >= 0 and r["peak_rss_mb"] > r["mem_mb"]
    assert r["matrix_mb"] < 1e-3                          # a seed and a weight
    assert jc.matrix_mb("dense", 500, None) == pytest.approx(1.0)   # 500 x 500 float32


def test_coba_with_jitc_fires_at_a_sane_rate():
    r = jc.worker_coba(1000, 20., 20., 0)
    assert r["duration_ms"] == 20.
    assert 1. < r["rate_hz"] < 200.                       # active, not saturated (20 Hz at 4k)


@pytest.mark.slow
def test_smoke_run_json(tmp_path):
    res, err = run_experiment("jit_connectivity", tmp_path, "--smoke")
    mv, coba = res["matvec"], res["coba"]
    for key in ("n", "jitc_s", "jitc_mem_mb", "csr_s", "csr_mem_mb", "dense_s", "dense_mem_mb"):
        assert len(mv[key]) == len(mv["n"]), key
    assert all(t > 0 for t in mv["jitc_s"] + mv["csr_s"] + mv["dense_s"])
    assert set(coba) >= {"n", "time_s", "mem_mb", "rate_hz", "duration_ms"}
    assert coba["time_s"][0] > 0 and coba["rate_hz"][0] > 0
    assert (tmp_path / "jit_connectivity_smoke.png").stat().st_size > 1000
