"""Every benchmark script runs end to end on a short setting and prints its JSON line last.

Speed is never judged here. What can fail: a stale import, argument or API (a benchmark that
no longer runs is a figure nobody can reproduce), and the checks the scripts make themselves
(``spike_recording.py`` asserts that its two decodes give the same events; ``dense_events.py``,
``propagation_designs.py`` and ``event_ops.py`` that their products agree with the dense one;
``scaling.py`` that every device count gives the same raster). Other simulators are left out
(``BRIAN2_PYTHON`` and ``TORCH_PYTHON`` unset); ``gpu.py`` has its own test. The longer runs
are marked slow.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
SLOW = pytest.mark.slow

# script, short arguments ({tmp}: a scratch folder, {fmnist}: the shared data), keys its JSON
# line must hold, marks
SCRIPTS = [
    ("spike_recording.py", "--repeats 1 --steps 500", {"loop_us_per_step", "decode_ms"}, ()),
    ("ei_network.py", "--scale 0.1 --duration 20 --no-brian2 --compare-backends",
     {"wall_s", "compile_s", "rate_hz", "others"}, ()),
    ("ei_network.py", "--model cobahh --scale 0.1 --duration 20 --no-brian2",
     {"wall_s", "rate_hz"}, ()),
    ("ei_network.py", "--scale 0.1 --duration 20 --recording-cost --repeats 1",
     {"wall_ratio", "cpu_ratio"}, ()),
    ("ei_network.py", "--scale 0.1 --duration 20 --floor-repeats 1 --threads 1",
     {"model", "n_neurons"}, ()),    # "ratio" with the C++ floor, "skipped" without g++
    ("fitting.py", "--rounds 1 --samples 4 --target 1000", {"brainsim", "target_V2"}, ()),
    ("integrators.py", "--n 100 --steps 10 --repeats 1", {"rows"}, ()),
    ("neuron_group.py", "--scale 0.1 --duration 20 --repeats 1", {"ratio_wall", "rate_hz"}, ()),
    ("transform_overhead.py", "--repeats 1", {"call_ratio", "loop_ratio"}, ()),
    ("stream_trace.py", "--scale 0.1 --duration 0.05 --path {tmp}/trace.h5",
     {"file_gb", "rate_hz"}, ()),
    ("dense_events.py", "--rows 200 --reps 3 --densities 0.1 --forms", {"results"}, (SLOW,)),
    ("coba_step_parts.py", "--repeats 1", {"us_per_step"}, (SLOW,)),
    ("event_ops.py", "--quick", {"rows", "all_synapse"}, (SLOW,)),
    ("live_plot.py", "--scale 0.1 --duration 20 --refresh 10 --repeats 1 --example 1",
     {"overhead", "frames"}, (SLOW,)),
    ("train_general.py", "--epochs 1 --hidden 16 --batch 32 --steps 5 --n-train 64 "
     "--rng hash,threefry --in-loop", {"brainsim", "brainsim_in_loop"}, (SLOW,)),
    ("train_fmnist.py", "--data {fmnist} --epochs 2 --batch 32 --steps 10 --train-range 0:64 "
     "--test-range 3000:3064", {"brainsim"}, (SLOW,)),
    ("scaling.py", "--scales 0.1 --duration 10 --devices-scale 0.1 --devices-duration 10",
     {"n_sweep", "devices"}, (SLOW,)),
    ("latency_kernels.py", "--rounds 1", {"rows"}, (SLOW,)),
    ("propagation_designs.py", "--steps 200 --rate 200", {"designs"}, (SLOW,)),
    ("dense_events.py", "--rows 64 --reps 1 --densities 0.1 --right 256", {"right"}, (SLOW,)),
]
# run elsewhere: gpu.py by test_gpu_script.py; the snnTorch halves by their brainsim callers,
# only where TORCH_PYTHON names a Python with torch
ELSEWHERE = {"gpu.py", "train_fmnist_snntorch.py", "train_general_snntorch.py"}


def test_every_benchmark_script_is_run_here_or_elsewhere():
    scripts = {p.name for p in (ROOT / "benchmarks").glob("*.py")}
    listed = {s[0] for s in SCRIPTS}
    assert scripts - listed - ELSEWHERE == set(), "add these to SCRIPTS"
    assert listed | ELSEWHERE <= scripts


@pytest.mark.parametrize("script,args,keys", [pytest.param(*s[:3], marks=s[3]) for s in SCRIPTS],
                         ids=[f"{s[0]} {s[1]}" for s in SCRIPTS])
def test_benchmark_runs_and_prints_its_json_last(tmp_path, script, args, keys):
    fmnist = shared_data_dir("fashion-mnist-head") if "{fmnist}" in args else ""
    argv = args.format(tmp=tmp_path, fmnist=fmnist).split()
    env = {k: v for k, v in os.environ.items() if k not in ("BRIAN2_PYTHON", "TORCH_PYTHON")}
    env["PYTHONPATH"] = str(ROOT)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *argv, "--json"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert keys <= set(got), sorted(got)
