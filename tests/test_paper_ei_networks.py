"""paper_experiments/ei_networks: the JSON of a tiny run (default suite) and of --quick (slow)."""
from pathlib import Path

import pytest

from _paper_run import run_experiment


def _check(res, sizes, models):
    assert set(res) == {"coba", "cobahh"}
    for m in ("coba", "cobahh"):
        rows = res[m]
        assert [r["n"] for r in rows] == (sizes if m in models else [])
        for r in rows:
            assert set(r) == {"n", "brainsim_s", "brian2_s", "nest_s"}
            assert r["brainsim_s"] > 0
            assert r["brian2_s"] is None and r["nest_s"] is None     # not given: skipped


def test_tiny_run_json_and_skip_messages(tmp_path):
    res, err = run_experiment("ei_networks", tmp_path, "--sizes", "400", "--models", "coba",
                              "--lif-ms", "50", "--chunk-ms", "50")
    _check(res, [400], ["coba"])
    assert "brian2 skipped: set BRIAN2_PYTHON" in err and "nest skipped: set NEST_PYTHON" in err
    # the network fires (COBA's asynchronous state is tens of Hz), reported on the row
    assert " Hz)" in err and (Path(tmp_path) / "ei_networks_quick.png").stat().st_size > 1000


@pytest.mark.slow
def test_quick_run_json(tmp_path):
    res, _ = run_experiment("ei_networks", tmp_path, "--quick")
    _check(res, [4000, 8000], ["coba", "cobahh"])
