"""paper_experiments/compile_time: JSON of a tiny run (default suite) and of --quick (slow)."""
import pytest

from _paper_run import run_experiment


def _check(res, scales):
    assert set(res) == {"scale", "brainsim_compile_s", "brian2_compile_s"}
    assert res["scale"] == scales
    assert len(res["brainsim_compile_s"]) == len(scales)
    assert all(c > 0 for c in res["brainsim_compile_s"])
    assert res["brian2_compile_s"] == {"cython": [None] * len(scales),
                                       "cpp_standalone": [None] * len(scales)}


def test_tiny_run_json(tmp_path):
    res, err = run_experiment("compile_time", tmp_path, "--scales", "0.1", "--chunk-ms", "20")
    _check(res, [0.1])
    assert "brian2 skipped: set BRIAN2_PYTHON" in err


@pytest.mark.slow
def test_quick_run_json(tmp_path):
    res, _ = run_experiment("compile_time", tmp_path, "--quick")
    _check(res, [1.0, 2.0])
