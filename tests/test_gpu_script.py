"""benchmarks/gpu.py, the prepared GPU check, runs end to end (here on the CPU, --smoke).

The script compares the event products with the dense product on every size it times and
fails if they differ; this test also checks the JSON it prints last.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_script_smoke_prints_its_json_last():
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TORCH_PYTHON", None)
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu.py"), "--smoke",
                          "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads(out.stdout.strip().splitlines()[-1])
    assert s["benchmark"] == "gpu" and s["skipped"] == []
    assert [c["conn"] for c in s["coba"]] == ["csr", "jitc"]
    assert all(c["us_per_step"] > 0 and c["rate_hz"] > 0 for c in s["coba"])
    assert {(q["n"], q["active"]) for q in s["products"]} == {(400, 0.01), (400, 0.1)}
    assert s["training"]["epoch_s"] > 0
    assert s["jitc_4m"]["n_neurons"] == 200 and s["jitc_4m"]["wall_s"] > 0
