"""Benchmarks that check their own results run end to end on a short setting.

Speed is never judged here; each script asserts that the forms it times give the same result,
and this test checks the JSON line it prints last.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# script, short arguments, keys of its JSON line
SCRIPTS = [
    ("spike_recording.py", ["--repeats", "1", "--steps", "500"], {"loop_us_per_step", "decode_ms"}),
]


@pytest.mark.parametrize("script,args,keys", SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_benchmark_runs_and_prints_its_json_last(script, args, keys):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args, "--json"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert keys <= set(got)
