"""``examples/ei_coba_lif.py --conn jitc --json``: the JIT-connectivity network and its JSON line."""
import hashlib
import importlib.util
import json
from pathlib import Path

import jax
import numpy as np

EX = Path(__file__).resolve().parents[1] / "examples" / "ei_coba_lif.py"


def _load():
    spec = importlib.util.spec_from_file_location("ei_coba_lif", EX)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_json_line_describes_the_recorded_raster(capsys):
    ex = _load()
    spikes = ex.main(["--conn", "jitc", "--json", "--scale", "0.25", "--duration", "50"])
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(d) >= {"n_neurons", "rate_hz", "spike_count", "raster_sha256"}
    assert d["n_neurons"] == 1000 and d["spike_count"] == spikes.count > 0
    h = hashlib.sha256(np.asarray(spikes.i, "<i8").tobytes())
    h.update(np.asarray(spikes.steps, "<i8").tobytes())
    assert d["raster_sha256"] == h.hexdigest()
    assert np.isclose(d["rate_hz"], spikes.count / 1000 / 0.05)
    # the same seed gives the same raster (the hash is a usable fingerprint)
    again = ex.main(["--conn", "jitc", "--json", "--scale", "0.25", "--duration", "50"])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == d
    np.testing.assert_array_equal(again.i, spikes.i)


def test_jitc_connectivity_is_80_per_neuron_and_stores_no_synapse():
    ex = _load()
    n_exc, n_inh = 3_200_000, 800_000
    We, Wi = ex.connectivity("jitc", n_exc, n_inh, 1000.0, 0)
    assert We.shape == (n_exc, 4_000_000) and Wi.shape == (n_inh, 4_000_000)
    assert We.prob == Wi.prob == 80 / 4_000_000
    assert sum(np.asarray(x).nbytes for x in jax.tree.leaves((We, Wi))) < 64
    # at a size where it can be counted: 80 targets per row on average
    small, _ = ex.connectivity("jitc", 3200, 800, 1.0, 0)
    deg = (np.asarray(small.todense().mantissa) != 0).sum(1)
    assert abs(deg.mean() - 80) < 5 * np.sqrt(80 / 3200)
