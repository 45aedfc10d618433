"""paper_experiments/reservoir: the reservoir model against a dense reference, its data loader,
and the script's --smoke (default suite) and --quick (slow) runs."""

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from _paper_run import load_module
from conftest import shared_data_dir

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "reservoir"




model = load_module("reservoir", "reservoir_model")


def _dense(M):
    return np.asarray(M.todense(), np.float64)


@pytest.mark.parametrize("conn", ["csr", "jit"])
def test_reservoir_steps_match_dense_reference(conn):
    n_in, n, B, T = 6, 40, 3, 5
    res = model.Reservoir(n_in, n, leak=0.6, spectral_radius=1.3, in_scale=0.3, in_prob=0.5,
                          rec_prob=0.2, conn=conn, seed=3)
    brainsim.init_states(res, batch_size=B)
    W_in, W_rec = _dense(res.w_in.value), _dense(res.w_rec.value)
    assert np.count_nonzero(W_rec) > 0 and np.abs(W_in).max() <= 0.3
    u = np.random.default_rng(0).uniform(0, 1, (T, B, n_in)).astype(np.float32)
    got = np.asarray(brainsim.for_loop(res, jnp.asarray(u)))
    r, want = np.zeros((B, n)), []
    for t in range(T):
        r = 0.4 * r + 0.6 * np.tanh(u[t] @ W_in + r @ W_rec)
        want.append(r)
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("conn", ["csr", "jit"])
def test_spectral_radius_follows_circular_law_and_is_measured(conn):
    n, p, rho = 400, 0.1, 1.3
    res = model.Reservoir(28, n, spectral_radius=rho, rec_prob=p, conn=conn, seed=1)
    assert res.sigma == pytest.approx(rho / np.sqrt(n * p))
    W = _dense(res.w_rec.value)
    exact = float(np.max(np.abs(np.linalg.eigvals(W))))
    assert exact == pytest.approx(rho, rel=0.08)            # circular law at n = 400
    est = model.estimate_spectral_radius(res.w_rec.value, n, iters=80)
    assert est == pytest.approx(exact, rel=0.06)
    # the estimator itself, on a matrix with a known real dominant eigenvalue
    D = np.diag(np.linspace(0.1, 0.9, 30)).astype(np.float32)
    assert model.estimate_spectral_radius(jnp.asarray(D), 30, iters=200) == pytest.approx(0.9, rel=0.02)


@pytest.mark.parametrize("kwargs, match", [
    (dict(conn="dense"), "conn must be one of"),
    (dict(leak=0.0), r"leak must be in \(0, 1\]"),
    (dict(rec_prob=1.5), r"rec_prob must be in \(0, 1\]"),
])
def test_reservoir_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        model.Reservoir(28, 10, **kwargs)


def _write_idx(folder, split, images, labels):
    stem = "train" if split == "train" else "t10k"
    with gzip.open(folder / f"{stem}-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(images), 28, 28) + images.tobytes())
    with gzip.open(folder / f"{stem}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


def test_load_data_uses_the_test_split_when_present(tmp_path):
    run = load_module("reservoir", "run")
    rng = np.random.default_rng(0)
    tr = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
    te = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    _write_idx(tmp_path, "train", tr, np.arange(12, dtype=np.uint8) % 10)
    _write_idx(tmp_path, "test", te, np.arange(5, dtype=np.uint8))
    x_tr, y_tr, x_te, y_te, note = run.load_data(tmp_path, 10, 4)
    np.testing.assert_allclose(x_tr, tr[:10] / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_te, te[:4] / 255.0, rtol=1e-6)
    assert y_te.tolist() == [0, 1, 2, 3] and "test images" in note


def test_load_data_splits_the_fashion_mnist_head():
    run = load_module("reservoir", "run")
    root = shared_data_dir("fashion-mnist-head")
    x_tr, y_tr, x_te, y_te, note = run.load_data(root, 3000, 615)
    assert x_tr.shape == (3000, 28, 28) and x_te.shape == (615, 28, 28)
    assert x_tr.dtype == np.float32 and 0.0 <= x_tr.min() and x_tr.max() <= 1.0
    assert len(set(y_te.tolist())) == 10 and "[3000, 3615)" in note
    with pytest.raises(ValueError, match="holds 3615 training images and no test split"):
        run.load_data(root, 3500, 615)


def _run_script(tmp_path, *flags):
    root = shared_data_dir("fashion-mnist-head")
    out = subprocess.run([sys.executable, str(HERE / "run.py"), *flags, "--json", "--data", str(root),
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _check_summary(res, sizes, tmp_path):
    for key in ("test_acc", "sizes", "accs"):
        assert key in res
    assert res["sizes"] == sizes and len(res["accs"]) == len(sizes)
    assert res["test_acc"] == res["accs"][-1]
    assert res["test_acc"] > 0.6                 # chance is 0.1
    assert Path(res["png"]).parent == tmp_path and Path(res["png"]).stat().st_size > 1000


def test_smoke_run_json_and_accuracy(tmp_path):
    res = _run_script(tmp_path, "--smoke", "--sizes", "300")
    _check_summary(res, [300], tmp_path)
    assert res["n_train"] == 600 and res["n_test"] == 200
    assert 1.1 < res["spectral_radius_measured"][0] < 1.5


@pytest.mark.slow
def test_quick_run_json_and_accuracy(tmp_path):
    res = _run_script(tmp_path, "--quick")
    _check_summary(res, [500, 1000, 2000], tmp_path)
    assert res["test_acc"] > 0.75
