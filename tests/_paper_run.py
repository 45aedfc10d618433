"""Run a paper experiment's run.py as a user would, with the other simulators unset."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

EXP = Path(__file__).resolve().parents[1] / "paper_experiments"


def run_experiment(name, tmp_path, *flags, keep_env=False, timeout=900):
    """The last stdout line of ``paper_experiments/<name>/run.py *flags --json`` as a dict, and stderr."""
    env = dict(os.environ)
    if not keep_env:
        for var in ("BRIAN2_PYTHON", "NEST_PYTHON", "TORCH_PYTHON"):
            env.pop(var, None)
    out = subprocess.run([sys.executable, str(EXP / name / "run.py"), *flags, "--json",
                          "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def load_module(experiment, name):
    """``paper_experiments/<experiment>/<name>.py`` as a module; its folder is on ``sys.path``
    while it loads, so it can import its neighbours as the script does."""
    folder = EXP / experiment
    spec = importlib.util.spec_from_file_location(f"{experiment}_{name}", folder / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(folder))
    return mod
