"""``python -m brainsim`` reports the installation and runs the sample network."""
import importlib.metadata as metadata
import os
import re
import subprocess
import sys
from pathlib import Path

import jax

import brainsim
from brainsim import __main__ as cli
from brainsim import event

ROOT = Path(__file__).resolve().parents[1]


def test_python_m_brainsim_prints_versions_devices_and_a_rate():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-m", "brainsim"], capture_output=True, text=True,
                         timeout=30, env=env, check=True).stdout
    assert re.search(rf"^brainsim +{re.escape(brainsim.__version__)}$", out, re.M), out
    assert re.search(rf"^jax +{re.escape(jax.__version__)}$", out, re.M), out
    for dist in ("jaxlib", "brainunit"):
        assert re.search(rf"^{dist} +{re.escape(metadata.version(dist))}$", out, re.M), out
    assert f"default backend: {jax.default_backend()}" in out
    assert "devices:" in out and "compiled event kernels built: " in out
    assert "event backend:" in out
    threads, width = brainsim.environ.get_cpu_threads(), brainsim.environ.get_cpu_vector_width()
    assert f"CPU programs:    {threads} thread(s), {width}-bit vectors" in out, out
    rate = float(re.search(r"mean rate ([0-9.]+) Hz", out).group(1))
    assert 1. < rate < 100., out      # an asynchronous irregular state, neither silent nor epileptic


def test_environment_names_the_event_backend_in_use():
    saved = event.get_backend()
    try:
        event.set_backend("jax")
        lines = cli.environment()
        assert any(line.startswith("event backend:   'jax' -> pure JAX") for line in lines)
        event.set_backend("auto")
        want = "compiled XLA:CPU kernel" if (event.kernels_available() and
                                             jax.default_backend() == "cpu") else "pure JAX"
        assert any(f"'auto' -> {want}" in line for line in cli.environment())
    finally:
        event.set_backend(saved)

