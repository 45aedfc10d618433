"""paper_experiments/snn_training: brainsim's network against a NumPy loop of the equations that
torch_nets.py gives every torch library, and the script's --smoke (default suite) and --quick
(slow) runs with brainsim only."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import brainunit as u
import numpy as np
import pytest

import brainsim
from conftest import shared_data_dir

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "snn_training"


def _load():
    spec = importlib.util.spec_from_file_location("snn_training_run", HERE / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


run = _load()


def test_network_equals_the_shared_equations():
    """The step the torch libraries implement (torch_nets.py docstring), as a NumPy loop."""
    r = np.random.default_rng(0)
    T, B = 100, 4
    w1 = r.normal(0.03, 0.1, (784, 100)).astype(np.float32)
    w2 = r.normal(0, 0.4, (100, 10)).astype(np.float32)
    steps = r.integers(0, 2 * T, (B, 784)).astype(np.int32)   # about half never spike
    brainsim.environ.set(dt=1. * u.ms)
    net = brainsim.init_states(run.Net(w1, w2, T), B)
    spikes, v = brainsim.jit(net)(steps)
    a, b1, b2 = math.exp(-0.1), math.exp(-0.1), math.exp(-0.2)
    g1 = np.zeros((B, 100)); V = np.zeros((B, 100)); g2 = np.zeros((B, 10)); U = np.zeros((B, 10))
    zs, us = [], []
    for t in range(T):
        s = (steps == t).astype(np.float64)
        g1 = a * g1 + s @ w1
        V = b1 * V + (1 - b1) * g1
        z = (V > 1.).astype(np.float64)
        V = np.where(z > 0, 0., V)
        g2 = a * g2 + z @ w2
        U = b2 * U + (1 - b2) * g2
        zs.append(z)
        us.append(U)
    zs, us = np.stack(zs), np.stack(us)
    assert zs.sum() > 100                                   # the hidden layer fires
    # float32 against float64: a spike may flip where V is within rounding of the threshold
    assert np.mean(np.asarray(spikes) != zs) < 1e-3
    np.testing.assert_allclose(np.asarray(v), us, atol=0.05 * np.abs(us).max())


def _run_script(tmp_path, *flags, env=None):
    root = shared_data_dir("fashion-mnist-head")
    out = subprocess.run([sys.executable, str(HERE / "run.py"), *flags, "--json", "--data", str(root),
                          "--out", str(tmp_path)], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_seed_starts_are_shared_and_distinct():
    a, b, c = run.start_of(0, 512, 2), run.start_of(0, 512, 2), run.start_of(1, 512, 2)
    for k in ("w1", "w2", "orders"):
        np.testing.assert_array_equal(a[k], b[k])            # every library gets the same start
    assert not np.array_equal(a["w1"], c["w1"]) and not np.array_equal(a["orders"], c["orders"])
    assert sorted(a["orders"][1]) == list(range(512))         # each epoch is a permutation


def test_combine_pools_times_and_averages_accuracy():
    r0 = dict(epoch_times=[9., 1., 3.], test_acc=0.5, test_correct=5, train_acc=0.4, losses=[1.])
    r1 = dict(epoch_times=[9., 2., 4.], test_acc=0.7, test_correct=7, train_acc=0.6, losses=[2.])
    out = run.combine([r0, r1])
    assert out["epoch_s"] == 2.5                              # median of 1, 3, 2, 4: first epochs out
    assert out["test_acc"] == pytest.approx(0.6) and out["test_acc_seeds"] == [0.5, 0.7]
    assert out["test_correct_seeds"] == [5, 7] and out["train_acc"] == pytest.approx(0.5)
    assert run.combine([r0, {"skipped": "x"}]) == {"skipped": "x"}


def test_bad_seeds_is_a_value_error():
    with pytest.raises(ValueError, match="--seeds"):
        run.main(["--smoke", "--seeds", "0", "--libs", "brainsim", "--data",
                  str(shared_data_dir("fashion-mnist-head"))])


def test_smoke_run_brainsim_and_skip_note(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TORCH_PYTHON"}
    res = _run_script(tmp_path, "--smoke", "--seeds", "2", "--libs", "brainsim,snntorch", env=env)
    assert res["experiment"] == "snn_training" and res["epochs"] == 2 and res["seeds"] == [0, 1]
    assert res["brainsim"]["epoch_s"] > 0 and 0 <= res["brainsim"]["test_acc"] <= 1
    per = res["brainsim"]["test_acc_seeds"]
    assert len(per) == 2 and res["brainsim"]["test_acc"] == pytest.approx(np.mean(per))
    assert [c / res["n_test"] for c in res["brainsim"]["test_correct_seeds"]] == pytest.approx(per)
    assert "TORCH_PYTHON is not set" in res["snntorch"]["skipped"]
    assert "norse" not in res and Path(res["png"]).is_file()


@pytest.mark.slow
def test_quick_run_brainsim_learns(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TORCH_PYTHON"}
    res = _run_script(tmp_path, "--quick", "--libs", "brainsim", env=env)
    assert res["n_test"] == 615
    # chance is 0.1 (std 0.012 on 615 images); three epochs reach well above it
    assert res["brainsim"]["test_acc"] > 0.25
