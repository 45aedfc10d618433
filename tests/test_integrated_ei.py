"""The COBA-LIF example network: reference rate band, E/I balance, determinism."""
import importlib.util
from pathlib import Path

import brainunit as u
import numpy as np
import pytest

EX = Path(__file__).resolve().parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EX / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_same_seed_same_raster_small_network():
    ex = _load("ei_coba_lif")
    _, a = ex.simulate(0.25, 100. * u.ms, seed=4, progress=False)
    _, b = ex.simulate(0.25, 100. * u.ms, seed=4, progress=False)
    assert a.count > 100
    np.testing.assert_array_equal(a.i, b.i)
    np.testing.assert_array_equal(a.steps, b.steps)


def test_example_main_writes_raster(tmp_path, capsys):
    ex = _load("ei_coba_lif")
    out = tmp_path / "raster.png"
    ex.main(["--scale", "0.25", "--duration", "60", "--out", str(out)])
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "E rate" in capsys.readouterr().out


def test_example_live_flag_writes_one_frame_per_refresh_and_keeps_the_raster(tmp_path, capsys):
    from PIL import Image
    ex = _load("ei_coba_lif")
    gif = tmp_path / "live.gif"
    args = ["--scale", "0.25", "--duration", "30", "--json"]
    plain = ex.main(args)
    live = ex.main(args + ["--live", str(gif), "--refresh", "10"])
    with Image.open(gif) as im:
        assert im.n_frames == 3
    assert ex.raster_sha256(live) == ex.raster_sha256(plain) and plain.count > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coba_lif_rate_band(seed):
    """Brette et al. 2007 COBA at s = 1: mean rate after 500 ms in 19-25 Hz, E and I close."""
    ex = _load("ei_coba_lif")
    net, spikes = ex.simulate(1.0, 1000. * u.ms, seed=seed, progress=False)
    rate = float(spikes.mean_rate(500. * u.ms).to_decimal(u.Hz))
    r_e = float(spikes.mean_rate(500. * u.ms, np.arange(net.n_exc)).to_decimal(u.Hz))
    r_i = float(spikes.mean_rate(500. * u.ms, np.arange(net.n_exc, 4000)).to_decimal(u.Hz))
    assert 19. <= rate <= 25., rate
    assert abs(r_e - r_i) < 1.5, (r_e, r_i)


def test_coba_hh_runs_with_sustained_activity():
    ex = _load("ei_coba_hh")
    net, spikes = ex.simulate(1.0, 300. * u.ms, seed=0, progress=False)
    late = float(spikes.mean_rate(150. * u.ms).to_decimal(u.Hz))
    # Brette et al.'s COBAHH fires at tens of Hz: 34 and 38 Hz here for seeds 0 and 1 (150-300 ms),
    # Brian2 38.7 Hz over 1 s; a band of 25-50 Hz catches a broken channel or synapse.
    assert 25. < late < 50., late
