"""brainsim.environ.set_cpu_threads: XLA's CPU thread pool, set before the backend starts."""
import json
import os
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import brainsim

# In a fresh process: set the threads, then compile one large elementwise fusion (XLA splits
# such a fusion over its pool when it has more than one thread) and run it.
_PROBE = """
import hashlib, json, sys
import numpy as np
import brainsim
brainsim.environ.set_cpu_threads(int(sys.argv[1]))
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.exp(jnp.sin(x) * 3.) * jnp.cos(x) + jnp.tanh(x))
x = jnp.asarray(np.linspace(-4., 4., 1_000_000, dtype=np.float32))
text = f.lower(x).compile().as_text()
y = jax.device_get(f(x))
print(json.dumps(dict(split="outer_dimension_partitions" in text,
                      sha=hashlib.sha256(y.tobytes()).hexdigest())))
"""


ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str]) -> dict:
    env = dict(os.environ)
    env.pop("PJRT_NPROC", None)
    out = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                         timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _probe(n: int) -> dict:
    return _run(["-c", _PROBE, str(n)])


def test_one_thread_keeps_fusions_whole_and_the_result_bit_identical():
    one, two = _probe(1), _probe(2)
    assert not one["split"]
    # the compiler splits over min(pool, cores this process may use): on one core neither splits
    assert two["split"] == (len(os.sched_getaffinity(0)) >= 2)
    assert one["sha"] == two["sha"]


def test_coba_spikes_do_not_depend_on_the_thread_count():
    # the example's own flag; its JSON carries the raster's hash
    one, two = (_run(["examples/ei_coba_lif.py", "--json", "--duration", "200", "--threads", n])
                for n in ("1", "2"))
    assert one["spike_count"] > 1000
    assert one["raster_sha256"] == two["raster_sha256"]


@pytest.mark.parametrize("bad, error, match", [
    (0, ValueError, r"n must be at least 1, got 0\. How to fix"),
    (-2, ValueError, r"n must be at least 1, got -2"),
    (1.0, TypeError, r"n must be an int \(threads\), got 1\.0 \(float\)"),
    (True, TypeError, r"got True \(bool\)"),
    ("2", TypeError, r"got '2' \(str\)"),
])
def test_bad_thread_count_is_refused_and_changes_nothing(bad, error, match):
    before = os.environ.get("PJRT_NPROC")
    with pytest.raises(error, match=match):
        brainsim.environ.set_cpu_threads(bad)
    assert os.environ.get("PJRT_NPROC") == before


def test_after_the_backend_started_a_change_is_refused_and_changes_nothing():
    jnp.zeros(1).block_until_ready()          # the backend is up in this process
    before = os.environ.get("PJRT_NPROC")
    now = brainsim.environ.get_cpu_threads()
    other = now + 7
    with pytest.raises(ValueError, match=rf"set_cpu_threads\({other}\): JAX's CPU backend has "
                                         rf"already started with a pool of {now} thread\(s\).* "
                                         r"How to fix: call brainsim.environ.set_cpu_threads "
                                         r"before the first"):
        brainsim.environ.set_cpu_threads(other)
    assert os.environ.get("PJRT_NPROC") == before
    # asking for the pool it already has is no error (a NumPy integer is an integer)
    brainsim.environ.set_cpu_threads(np.int64(now))
    assert os.environ.get("PJRT_NPROC") == before


@pytest.mark.parametrize("env, expected", [
    ({"PJRT_NPROC": "3", "NPROC": "5"}, 3),
    ({"NPROC": "5"}, 5),
    ({}, None),                               # the cores this process may run on
])
def test_get_cpu_threads_reads_the_environment_as_xla_does(monkeypatch, env, expected):
    for var in ("PJRT_NPROC", "NPROC"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    want = expected if expected is not None else len(os.sched_getaffinity(0))
    assert brainsim.environ.get_cpu_threads() == want
