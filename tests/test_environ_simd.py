"""brainsim.environ.set_cpu_vector_width: the SIMD width brainsim.jit compiles CPU loops for."""
import os
import re
import subprocess
import sys
from pathlib import Path

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.environ import _simd
from brainsim.runner import Runner, SpikeMonitor

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _restore_width():
    chosen, refused = _simd._chosen[0], _simd._refused[0]
    yield
    _simd._chosen[0], _simd._refused[0] = chosen, refused
    _simd.generation[0] += 1      # functions compiled under a test's width compile anew


@pytest.mark.parametrize("machine, flags, width", [
    ("x86_64", {"avx2", "avx512f", "avx512_vbmi2"}, 512),    # Zen 4, Ice Lake, Sapphire Rapids
    ("AMD64", {"avx512f", "avx512_vbmi2"}, 512),              # Windows spells it so
    ("x86_64", {"avx2", "avx512f"}, 256),                     # Skylake-X: clocks down at 512
    ("x86_64", {"avx2", "fma"}, 256),
    ("aarch64", {"avx512f", "avx512_vbmi2"}, 256),            # not x86: flags mean nothing
    ("x86_64", set(), 256),                                   # no /proc/cpuinfo
])
def test_default_width_by_cpu(machine, flags, width):
    assert _simd.default_width(machine, flags) == width


@pytest.mark.parametrize("bits, err, match", [
    (300, ValueError, r"bits must be 128, 256 or 512, got 300\. How to fix: pass 512"),
    (0, ValueError, r"got 0\."),
    ("512", TypeError, r"bits must be an int or None, got '512' \(str\)"),
    (512., TypeError, r"got 512\.0 \(float\)"),
    (True, TypeError, r"got True \(bool\)"),
])
def test_bad_width_is_refused_and_changes_nothing(bits, err, match):
    before, gen = brainsim.environ.get_cpu_vector_width(), _simd.generation[0]
    with pytest.raises(err, match=match):
        brainsim.environ.set_cpu_vector_width(bits)
    assert brainsim.environ.get_cpu_vector_width() == before
    assert _simd.generation[0] == gen


def test_set_and_restore_default():
    brainsim.environ.set_cpu_vector_width(128)
    assert brainsim.environ.get_cpu_vector_width() == 128
    assert _simd.compiler_options() == {"xla_cpu_prefer_vector_width": 128}
    brainsim.environ.set_cpu_vector_width(None)
    assert brainsim.environ.get_cpu_vector_width() == _simd._default()


def _coba_spikes():
    """300 ms of the COBA example's network (seeded), as (steps, indices)."""
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from ei_coba_lif import EINet
    finally:
        sys.path.remove(str(ROOT / "examples"))
    brainsim.random.seed(0)
    with brainsim.environ.context(dt=0.1 * u.ms):
        net = EINet(1.0, 0)
        brainsim.init_states(net)
        rec = Runner(net, monitors={"s": SpikeMonitor(lambda: net.neu.spike.value)}).run(
            100. * u.ms)["s"]
    return np.asarray(rec.steps), np.asarray(rec.i)


def test_coba_spikes_are_the_same_at_256_and_512_bits():
    # the claim that lets brainsim choose 512 by default: elementwise code rounds alike
    brainsim.environ.set_cpu_vector_width(256)
    steps256, i256 = _coba_spikes()
    brainsim.environ.set_cpu_vector_width(512)
    steps512, i512 = _coba_spikes()
    assert len(i256) > 1000
    np.testing.assert_array_equal(steps256, steps512)
    np.testing.assert_array_equal(i256, i512)


# In a fresh process that dumps what XLA compiles: compile at each width of argv[1] in turn.
_PROBE = """
import sys, jax.numpy as jnp, brainsim
x = brainsim.State(jnp.linspace(-1., 1., 4096))
step = brainsim.jit(lambda: setattr(x, "value", jnp.exp(x.value) * 0.5))
for bits in sys.argv[1].split(","):
    brainsim.environ.set_cpu_vector_width(int(bits))
    step(); step()     # the second call compiles nothing
"""


@pytest.mark.skipif("avx512f" not in _simd._cpu_flags(),
                    reason="LLVM may narrow 512 on a CPU without AVX-512")
@pytest.mark.parametrize("widths", ["512", "512,256", "256,512"])
def test_width_reaches_the_compiled_loop(tmp_path, widths):
    # 256 alone is XLA's default and proves nothing; a change of width must reach the compiler
    # in the program compiled after it
    env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={tmp_path}", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", _PROBE, widths], check=True, env=env,
                   capture_output=True, timeout=120)
    found = []
    for opts in sorted(tmp_path.glob("module_*.jit_pure.debug_options")):
        stem = opts.name[:-len(".debug_options")]
        ir = list(tmp_path.glob(f"{stem}.*ir-with-opt.ll"))
        if ir:      # jaxlib 0.10 dumps LLVM IR: the attribute LLVM vectorised with
            found.append(",".join(sorted({w for p in ir for w in re.findall(
                r'"prefer-vector-width"="(\d+)"', p.read_text())})))
        else:       # later ones dump objects; the options XLA compiled with (256 unlisted)
            m = re.search(r"xla_cpu_prefer_vector_width: (\d+)", opts.read_text())
            found.append(m.group(1) if m else "256")
    assert found == widths.split(",")


def test_a_jaxlib_without_the_option_falls_back(monkeypatch):
    # an unknown compiler option is an error of jaxlib, not an abort: brainsim drops it
    monkeypatch.setattr(_simd, "_OPTION", "xla_cpu_no_such_option_for_this_test")
    brainsim.environ.set_cpu_vector_width(512)
    x = brainsim.State(jnp.arange(4.))
    f = brainsim.jit(lambda: setattr(x, "value", x.value * 2.))
    f()
    np.testing.assert_array_equal(np.asarray(x.value), [0., 2., 4., 6.])
    assert _simd._refused[0]
    assert brainsim.environ.get_cpu_vector_width() == 256
    assert _simd.compiler_options() == {}


def test_inside_another_trace_the_program_joins_it():
    # jax refuses compiler options on a nested jit: inside for_loop or a user's jax.jit the
    # inner program is compiled as part of the outer one, and traced no more than at the top
    import jax
    brainsim.environ.set_cpu_vector_width(512)

    def make():
        x, traces = brainsim.State(jnp.zeros(())), []

        def add(v):
            traces.append(1)
            x.value = x.value + v
            return x.value
        return x, traces, brainsim.jit(add)

    x, _, inner = make()
    brainsim.jit(lambda: brainsim.for_loop(lambda: inner(1.), length=3))()
    assert float(x.value) == 3.
    _, top, inner = make()
    assert float(inner(2.)) == 2.
    _, under, inner = make()
    assert float(jax.jit(lambda v: inner(v) * 2.)(2.)) == 4.
    assert len(under) == len(top)


def test_a_jax_whose_jit_takes_no_options(monkeypatch):
    monkeypatch.setattr(_simd, "_jit_takes_options", lambda: False)
    brainsim.environ.set_cpu_vector_width(512)
    x = brainsim.State(jnp.arange(3.))
    brainsim.jit(lambda: setattr(x, "value", x.value + 1.))()
    np.testing.assert_array_equal(np.asarray(x.value), [1., 2., 3.])
    assert brainsim.environ.get_cpu_vector_width() == 256
