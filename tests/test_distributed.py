"""Several processes on localhost, joined by jax.distributed (gloo), each with CPU host devices.

Every subprocess has a bounded wait (``timeout=`` of ``subprocess.run`` and of the launcher),
and only the loopback address is used.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import brainunit as u
import pytest

from brainsim import sharding

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = ROOT / "examples" / "ei_coba_lif.py"
WORKER = HERE / "_distributed_worker.py"


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("XLA_FLAGS", None)
    env.pop("BRAINSIM_EVENT_BACKEND", None)
    env.update(extra)
    return env


def _one_device_raster(scale, ms):
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import ei_coba_lif
    finally:
        sys.path.pop(0)
    _, spikes = ei_coba_lif.simulate(scale, ms * u.ms, 0, progress=False)
    return ei_coba_lif.raster_sha256(spikes), int(spikes.count)


@pytest.mark.slow
def test_two_processes_two_devices_each_bit_identical():
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--scale", "0.1", "--duration", "60", "--json",
         "--out", "", "--devices", "4", "--processes", "2", "--timeout", "240"],
        env=_env(), capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    ref_hash, ref_count = _one_device_raster(0.1, 60.)
    assert ref_count > 100
    assert (got["devices"], got["processes"], got["n_neurons"]) == (4, 2, 400)
    assert got["spike_count"] == ref_count
    assert got["raster_sha256"] == ref_hash


def _start(k, P, port, timeout):
    return subprocess.Popen(
        [sys.executable, str(WORKER), "--coordinator", f"127.0.0.1:{port}", "--processes",
         str(P), "--process-id", str(k), "--timeout", str(timeout)],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(p, limit=300):
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        pytest.fail("a process hung")
    return p.returncode, out, err


@pytest.mark.slow
def test_process_count_not_matching_the_coordinator():
    port = sharding.free_port()
    procs = [_start(0, 2, port, 20), _start(1, 3, port, 20)]
    results = [_finish(p) for p in procs]
    rc1, out1, err1 = results[1]
    rep = json.loads(out1.strip().splitlines()[-1])
    assert rep["error"] == "RuntimeError"
    assert "started for num_processes=3" in rep["message"]
    assert "coordinator at 127.0.0.1" in rep["message"] and "runs 2 processes" in rep["message"]


def test_missing_process_stops_with_a_message_instead_of_hanging():
    port = sharding.free_port()
    t0 = time.monotonic()
    rc, out, err = _finish(_start(0, 2, port, 3))
    assert rc == 1
    assert "not all processes joined the coordinator at 127.0.0.1" in err
    assert "within 3 s" in err and "Start all 2 processes" in err
    assert time.monotonic() - t0 < 240


@pytest.mark.parametrize("kw, msg", [
    (dict(coordinator="127.0.0.1:1", num_processes=2, process_id=2), "process_id=2 must be below"),
    (dict(coordinator="127.0.0.1", num_processes=2, process_id=0), "must be 'host:port'"),
    (dict(coordinator="127.0.0.1:1", num_processes=0, process_id=0), "num_processes must be"),
])
def test_initialize_checks_its_arguments(kw, msg):
    with pytest.raises(ValueError, match=msg):
        sharding.initialize(**kw)


def test_launcher_reports_a_failed_process(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import sys\nsys.exit(3 if '1' in sys.argv[-3:] else 0)\n")
    assert sharding.launch_local(str(script), [], 2, timeout=120) == 3


SWEEP = HERE / "_vmap_sweep_worker.py"


@pytest.mark.slow
def test_vmap_sweep_over_two_processes_equals_one_device_and_does_not_recompile(
        tmp_path, monkeypatch):
    # 8 parameter values of a LIF population with Poisson input, on 2 processes x 2 devices
    # (2 lanes each), against the same sweep in one process on one device without mesh
    ref_file, got_file = tmp_path / "ref.json", tmp_path / "got.json"
    out = subprocess.run([sys.executable, str(SWEEP), "--out", str(ref_file)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    for k, v in _env().items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    rc = sharding.launch_local(str(SWEEP), ["--out", str(got_file), "--timeout", "60"], 2,
                               timeout=300, devices_per_process=2)
    assert rc == 0
    ref, got = json.loads(ref_file.read_text()), json.loads(got_file.read_text())
    assert (ref["devices"], ref["processes"]) == (1, 1)
    assert (got["devices"], got["processes"], got["local_devices"]) == (4, 2, 2)
    counts = [sum(map(sum, lane)) for lane in ref["second"]["spikes"]]
    assert len(counts) == 8 and len(set(counts)) > 3        # the lanes differ and spike
    for call in ("first", "again", "second"):
        assert got[call]["spikes"] == ref[call]["spikes"], call     # bit for bit
        assert got[call]["V"] == ref[call]["V"], call               # floats as JSON: exact
        assert got[call]["spec"] == "P('neurons',)"                 # the batch axis is split
    # the second call places the states on the mesh (one more trace, as in one process);
    # after that, new parameter values reuse the compiled sweep
    assert got["first"]["compiled"] >= 1                # the compile counter sees compiles
    for r in (got, ref):
        assert r["second"]["traced"] == 0 and r["second"]["compiled"] == 0
