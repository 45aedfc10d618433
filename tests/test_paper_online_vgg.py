"""paper_experiments/online_vgg: its data loader (default suite) and the script's --smoke and
--quick runs with their JSON (slow)."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_data_dir

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "online_vgg"


def _load_run():
    spec = importlib.util.spec_from_file_location("online_vgg_run", HERE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_load_data_standardises_the_fashion_mnist_head_as_nhwc():
    run = _load_run()
    root = shared_data_dir("fashion-mnist-head")
    x_tr, y_tr, x_te, y_te, note = run.load_data(root, 3000, 615)
    assert x_tr.shape == (3000, 28, 28, 1) and x_te.shape == (615, 28, 28, 1)
    assert x_tr.dtype == np.float32
    assert abs(float(x_tr.mean())) < 1e-3 and abs(float(x_tr.std()) - 1) < 1e-3   # train statistics
    assert len(set(y_te.tolist())) == 10 and "[3000, 3615)" in note
    with pytest.raises(ValueError, match="holds 3615 training images and no test split"):
        run.load_data(root, 3500, 615)


def _run_script(tmp_path, *flags):
    root = shared_data_dir("fashion-mnist-head")
    out = subprocess.run([sys.executable, str(HERE / "run.py"), *flags, "--json", "--data", str(root),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("test_acc", "peak_mem_ratio_T16_vs_T4", "bptt_peak_mem_ratio_T16_vs_T4"):
        assert key in res
    assert Path(res["png"]).parent == tmp_path and Path(res["png"]).stat().st_size > 1000
    # OTTT's memory is flat in T; BPTT's grows (the same network, the same measurement)
    assert res["peak_mem_ratio_T16_vs_T4"] < 1.3
    assert res["bptt_peak_mem_ratio_T16_vs_T4"] > 1.5
    return res


@pytest.mark.slow
def test_smoke_run_json(tmp_path):
    res = _run_script(tmp_path, "--smoke")
    assert res["test_acc"] > 0.3                 # 256 images, one epoch; chance is 0.1


@pytest.mark.slow
def test_quick_run_json_and_accuracy(tmp_path):
    res = _run_script(tmp_path, "--quick")
    assert res["test_acc"] > 0.7
