"""The Fashion-MNIST example on the shared head: encoding, learning well above chance, resume."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

import brainsim
from brainsim import encoding, train
from conftest import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]


def load_example():
    spec = importlib.util.spec_from_file_location("train_fashion_mnist",
                                                  ROOT / "examples" / "train_fashion_mnist.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_encoding_matches_the_latency_encoder():
    ex = load_example()
    images = np.random.default_rng(0).integers(0, 256, (7, 28, 28)).astype(np.uint8)
    spikes = encoding.latency(images.reshape(7, -1) / 255., num_steps=40, tau=20., threshold=0.2)
    np.testing.assert_array_equal(ex.encode(images, 40), train.first_spike_steps(spikes))


def args_for(ex, tmp_path, *extra):
    data = shared_data_dir("fashion-mnist-head")
    return ex.build_parser().parse_args(
        ["--data", str(data), "--no-progress", "--json", "--plot", str(tmp_path / "c.png"),
         *extra])


def test_short_run_reaches_well_above_chance(tmp_path):
    ex = load_example()
    result = ex.run(args_for(ex, tmp_path, "--epochs", "2", "--batch", "128", "--steps", "60"))
    assert result["n_test"] == 615                      # the partial last batch is evaluated
    assert result["test_acc"] > 0.5                     # chance is 0.1
    assert (tmp_path / "c.png").stat().st_size > 1000


@pytest.mark.slow
def test_cli_resume_continues_exactly(tmp_path):
    ex = load_example()
    common = ["--batch", "128", "--steps", "40", "--train-range", "0:1024",
              "--test-range", "3000:3300"]
    straight = ex.run(args_for(ex, tmp_path, "--epochs", "3", "--ckpt", str(tmp_path / "a"),
                               *common))
    ex.run(args_for(ex, tmp_path, "--epochs", "2", "--ckpt", str(tmp_path / "b"), *common))
    resumed = ex.run(args_for(ex, tmp_path, "--epochs", "3", "--ckpt", str(tmp_path / "b"),
                              *common))
    ha = json.loads((tmp_path / "a" / "history.json").read_text())["epochs"]
    hb = json.loads((tmp_path / "b" / "history.json").read_text())["epochs"]
    assert [h["loss"] for h in ha] == [h["loss"] for h in hb]
    assert straight["test_acc"] == resumed["test_acc"]
