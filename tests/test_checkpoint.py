import json
import os
import signal
import stat
import subprocess
import sys
import zipfile

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim.errors import CheckpointError
from _models import NoisyRate, UnitNeuron


class Net(brainsim.Module):
    def __init__(self, n=4):
        super().__init__(name="net")
        self.a = UnitNeuron(n)
        self.b = NoisyRate(n + 2)
        self.opt = brainsim.LongTermState((jnp.zeros(3), {"mu": jnp.ones(2, jnp.int32)}))


def make(n=4, batch_size=None):
    return brainsim.init_states(Net(n), batch_size=batch_size)


def run(net, steps, x=1.0):
    step = brainsim.jit(lambda: (net.a(x), net.b(x)))
    return [tuple(np.asarray(o) for o in step()) for _ in range(steps)]


def test_round_trip_continues_bit_for_bit(tmp_path):
    brainsim.random.seed(3)
    net = make()
    run(net, 5)
    path = brainsim.save_checkpoint(tmp_path / "ck.npz", net)
    expected = run(net, 5)

    brainsim.random.seed(99)          # a different stream, restored by the load
    other = make()
    brainsim.load_checkpoint(path, other)
    got = run(other, 5)
    for e, g in zip(expected, got):
        for a, b in zip(e, g):
            np.testing.assert_array_equal(a, b)
    assert other.a.V.value.unit == u.mV


def test_units_and_pytrees_are_restored(tmp_path):
    net = make()
    net.a.V.value = jnp.full(4, -42.0) * u.mV
    net.opt.value = (jnp.arange(3.0), {"mu": jnp.array([7, 8], jnp.int32)})
    brainsim.save_checkpoint(tmp_path / "c.npz", net)
    fresh = make()
    brainsim.load_checkpoint(tmp_path / "c.npz", fresh)
    np.testing.assert_array_equal(fresh.a.V.value.to_decimal(u.mV), np.full(4, -42.0))
    assert fresh.opt.value[1]["mu"].tolist() == [7, 8]


def test_dict_of_modules(tmp_path):
    a, b = make(), make()
    a.a.V.value = jnp.full(4, -1.0) * u.mV
    brainsim.save_checkpoint(tmp_path / "d.npz", {"model": a, "other": b})
    c, d = make(), make()
    brainsim.load_checkpoint(tmp_path / "d.npz", {"model": c, "other": d})
    assert float(c.a.V.value[0].to_decimal(u.mV)) == -1.0


def test_mismatch_lists_missing_extra_and_mismatched_and_changes_nothing(tmp_path):
    brainsim.save_checkpoint(tmp_path / "m.npz", make(4))

    class Other(brainsim.Module):
        def __init__(self):
            super().__init__()
            self.a = UnitNeuron(5)       # shape differs
            self.c = NoisyRate(6)        # 'c.r' missing from file; 'b.r' extra in file
            self.opt = brainsim.LongTermState((jnp.zeros(3), {"mu": jnp.ones(2, jnp.int32)}))

    other = brainsim.init_states(Other())
    other.a.V.value = jnp.full(5, -1.0) * u.mV
    before = {p: s.value for p, s in other.states().items()}
    with pytest.raises(CheckpointError) as info:
        brainsim.load_checkpoint(tmp_path / "m.npz", other)
    msg = str(info.value)
    assert "missing from the file (1): ['c.r']" in msg
    assert "in the file but not in the model (1): ['b.r']" in msg
    assert "a.V: shape (4,) saved vs (5,) in model" in msg
    assert "a.g: shape (4,) saved vs (5,) in model" in msg
    for p, s in other.states().items():
        assert s.value is before[p]


def test_unit_mismatch_is_reported(tmp_path):
    s = brainsim.State(jnp.zeros(2) * u.mV)
    brainsim.save_checkpoint(tmp_path / "u.npz", s, include_rng=False)
    t = brainsim.State(jnp.zeros(2) * u.volt)
    with pytest.raises(CheckpointError, match="unit mV saved vs V in model"):
        brainsim.load_checkpoint(tmp_path / "u.npz", t, include_rng=False)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_file_is_a_clear_error_and_changes_nothing(tmp_path, damage):
    net = make()
    path = brainsim.save_checkpoint(tmp_path / "x.npz", net)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        # damage bytes inside the first array's data, not the zip directory
        with zipfile.ZipFile(path) as z:
            info = z.infolist()[0]
        start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 128
        for k in range(start, start + 16):
            raw[k] ^= 0xFF
    else:
        raw = bytearray(b"not a checkpoint at all" * 10)
    path.write_bytes(bytes(raw))
    before = {p: s.value for p, s in net.states().items()}
    with pytest.raises(CheckpointError, match="truncated or corrupt|is corrupt"):
        brainsim.load_checkpoint(path, net)
    for p, s in net.states().items():
        assert s.value is before[p]


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="No checkpoint file at"):
        brainsim.load_checkpoint(tmp_path / "nope.npz", make())


def test_not_a_brainsim_checkpoint(tmp_path):
    np.savez(tmp_path / "plain.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a brainsim checkpoint"):
        brainsim.load_checkpoint(tmp_path / "plain.npz", make())


def test_file_holds_no_pickled_objects(tmp_path):
    path = brainsim.save_checkpoint(tmp_path / "p.npz", make())
    with np.load(path, allow_pickle=False) as data:   # would raise on object arrays
        meta = json.loads(data["__meta__"].tobytes())
        assert all(data[k].dtype != object for k in data.files)
    assert meta["format"] == "brainsim-checkpoint"


# -- every dtype a State can hold round-trips, bit for bit ------------------------------
def _values(dtype):
    return np.array([0, 1, 2, 100, 3, 7]).reshape(2, 3).astype(dtype)


DTYPE_CASES = [
    ("bool", lambda: jnp.array([[True, False, True], [False, False, True]]), False),
    *[(name, (lambda n=name: jnp.asarray(_values(n))), False)
      for name in ["int8", "int16", "int32", "uint8", "uint16", "uint32"]],
    *[(name, (lambda n=name: jnp.asarray(_values(n))), True) for name in ["int64", "uint64"]],
    ("float16", lambda: jnp.asarray([[0.1, -2.5, 6e4], [1e-3, 0.0, -0.0]], jnp.float16), False),
    ("bfloat16", lambda: jnp.asarray([[0.1, -2.5, 3e38], [1e-3, 0.0, -7.0]], jnp.bfloat16), False),
    ("float32", lambda: jnp.asarray([[0.1, -2.5, 3e38], [1e-30, np.inf, np.nan]], jnp.float32),
     False),
    ("float64", lambda: jnp.asarray([[0.1, -2.5, 1e300], [1e-300, np.inf, 1 / 3]], jnp.float64),
     True),
    ("complex64", lambda: jnp.asarray([1 + 2j, -0.5j, 3.0], jnp.complex64), False),
    ("complex128", lambda: jnp.asarray([1 + 2j, -0.5j, 1 / 3], jnp.complex128), True),
    ("typed key", lambda: jax.random.split(jax.random.key(7), 3), False),
    ("typed rbg key", lambda: jax.random.key(7, impl="rbg"), False),
    ("raw uint32 key", lambda: jax.random.PRNGKey(7), False),
    ("quantity mV", lambda: jnp.asarray([-65.0, 1.5]) * u.mV, False),
    ("quantity nS bfloat16", lambda: jnp.asarray([0.5, 2.0], jnp.bfloat16) * u.nS, False),
    ("pytree", lambda: {"a": jnp.ones(2, jnp.bfloat16), "k": jax.random.key(1),
                        "q": jnp.zeros(3) * u.ms}, False),
]


def _bits(x):
    """Comparable host arrays of every leaf (key data for keys, raw bits for floats)."""
    out = []
    for leaf in jax.tree_util.tree_leaves(x, is_leaf=lambda v: isinstance(v, u.Quantity)):
        unit = None
        if isinstance(leaf, u.Quantity):
            unit, leaf = leaf.unit, leaf.mantissa
        if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            out.append((str(leaf.dtype), str(jax.random.key_impl(leaf)), unit,
                        np.asarray(jax.random.key_data(leaf))))
        else:
            arr = np.asarray(leaf)
            out.append((str(arr.dtype), arr.shape, unit,
                        arr.view(np.uint8) if arr.dtype.kind in "fcV" else arr))
    return out


@pytest.mark.parametrize("name, make_value, x64", DTYPE_CASES, ids=[c[0] for c in DTYPE_CASES])
def test_every_dtype_round_trips_exactly(tmp_path, name, make_value, x64):
    with jax.enable_x64(x64):
        value = make_value()
        if x64:  # the 64-bit dtypes only exist with x64 enabled
            assert str(value.dtype) == name
        saved = brainsim.State(value, name="s")
        brainsim.save_checkpoint(tmp_path / "d.npz", saved, include_rng=False)
        target = brainsim.State(jax.tree_util.tree_map(
            lambda x: x if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else jnp.zeros_like(x),
            value), name="t")
        if name in ("typed key", "typed rbg key", "raw uint32 key"):
            target = brainsim.State(jax.random.split(jax.random.key(0), 3) if name == "typed key"
                                    else jax.random.key(0, impl="rbg") if name == "typed rbg key"
                                    else jax.random.PRNGKey(0))
        brainsim.load_checkpoint(tmp_path / "d.npz", target, include_rng=False)
        got, want = _bits(target.value), _bits(value)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g[:3] == w[:3]
        np.testing.assert_array_equal(g[3], w[3])


def test_key_implementation_mismatch_is_reported_and_changes_nothing(tmp_path):
    brainsim.save_checkpoint(tmp_path / "k.npz", brainsim.State(jax.random.key(1)),
                             include_rng=False)
    target = brainsim.State(jax.random.key(2, impl="rbg"))
    before = target.value
    with pytest.raises(CheckpointError, match="dtype key<fry> saved vs key<rbg> in model"):
        brainsim.load_checkpoint(tmp_path / "k.npz", target, include_rng=False)
    assert target.value is before


# -- interrupted saves and file permissions ------------------------------------------
def _dead_pid():
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def _temporaries(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_next_save_removes_temporaries_of_killed_saves(tmp_path):
    from brainsim.checkpoint._checkpoint import _temp_name

    path = tmp_path / "ck.npz"
    live = _temp_name(path)                       # the form the writer uses, our own pid
    stale = live.with_name(live.name.replace(f"-{os.getpid()}-", f"-{_dead_pid()}-"))
    stale.write_bytes(b"x" * 1000)                # a save killed mid-write
    other_host = live.with_name(live.name.split("tmp-")[0] + "tmp-elsewhere-1-abcd")
    other_host.write_bytes(b"y")                  # maybe alive on another host: kept
    unrelated = tmp_path / ".other.npz.tmp-x-1-abcd"
    unrelated.write_bytes(b"z")
    assert stale.name in _temporaries(path)
    brainsim.save_checkpoint(path, brainsim.State(jnp.ones(3)), include_rng=False)
    assert _temporaries(path) == sorted([other_host.name, unrelated.name])


def test_really_killed_save_is_cleaned_up_by_the_next_save(tmp_path):
    path = tmp_path / "ck.npz"
    # The child writes part of the archive and then kills itself with SIGKILL,
    # at a deterministic point inside the write.
    child = f"""
import os, signal, numpy as np
import jax.numpy as jnp
import brainsim
def savez(f, **arrays):
    f.write(b"PK" + b"0" * 4096); f.flush()
    os.kill(os.getpid(), signal.SIGKILL)
np.savez = savez
brainsim.save_checkpoint({str(path)!r}, brainsim.State(jnp.ones(3)), include_rng=False)
"""
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True,
                          env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    left = _temporaries(path)
    assert len(left) == 1 and left[0].startswith(".ck.npz.tmp-") and not path.exists()
    brainsim.save_checkpoint(path, brainsim.State(jnp.ones(3)), include_rng=False)
    assert _temporaries(path) == []
    target = brainsim.State(jnp.zeros(3))
    brainsim.load_checkpoint(path, target, include_rng=False)
    np.testing.assert_array_equal(target.value, np.ones(3))


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_file_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = brainsim.save_checkpoint(tmp_path / "m.npz", brainsim.State(jnp.ones(2)),
                                        include_rng=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


# -- malformed metadata is a CheckpointError, and a failed load changes nothing --------
def _write_meta(path, meta_obj, arrays=None):
    raw = json.dumps(meta_obj).encode()
    np.savez(path, __meta__=np.frombuffer(raw, np.uint8), **(arrays or {}))


GOOD = {"format": "brainsim-checkpoint", "version": 1}
BAD_META = [
    ("list", [1, 2, 3], "metadata is a JSON list, expected a JSON object"),
    ("string", "hello", "metadata is a JSON str, expected a JSON object"),
    ("number", 3, "metadata is a JSON int, expected a JSON object"),
    ("null", None, "metadata is a JSON NoneType, expected a JSON object"),
    ("states list", {**GOOD, "states": []}, "'states' is a list, expected an object"),
    ("entry not list", {**GOOD, "states": {"state": 3}}, "entry 'state' is a int"),
    ("desc not dict", {**GOOD, "states": {"state": [7]}}, "describes an array of 'state' as 7"),
    ("bad shape", {**GOOD, "states": {"state": [{"shape": "3", "dtype": "float32",
                                                 "unit": None}]}}, "describes an array"),
    ("bad dtype name", {**GOOD, "states": {"state": [{"shape": [2], "dtype": "float32",
                                                      "unit": None, "stored_as": "uint32"}]}},
     "array 'state#0' does not match its metadata"),
    ("wrong version", {"format": "brainsim-checkpoint", "version": 99}, "version 99"),
    ("bad clock", {**GOOD, "clocks_ms": {"": -2.}, "states": {"state": [
        {"shape": [2], "dtype": "float32", "unit": None}]}},
     r"'clocks_ms' is \{'': -2\.0\}, expected an object of non-negative times in ms"),
]


@pytest.mark.parametrize("name, meta_obj, match", BAD_META, ids=[c[0] for c in BAD_META])
def test_malformed_metadata_is_a_checkpoint_error_and_changes_nothing(tmp_path, name, meta_obj,
                                                                      match):
    _write_meta(tmp_path / "b.npz", meta_obj, {"state#0": np.ones(2, np.float32)})
    s = brainsim.State(jnp.zeros(2), name="s")
    before = s.value
    with pytest.raises(CheckpointError, match=match):
        brainsim.load_checkpoint(tmp_path / "b.npz", s, include_rng=False)
    assert s.value is before


def test_failed_load_of_several_states_changes_none(tmp_path):
    # 'a' alone would load; 'b' is corrupt: neither may change, in either order.
    ok = np.ones(2, np.float32)
    meta = {**GOOD, "states": {
        "a": [{"shape": [2], "dtype": "float32", "unit": None}],
        "b": [{"shape": [2], "dtype": "float32", "unit": None}]}}
    _write_meta(tmp_path / "c.npz", meta, {"a#0": ok, "b#0": np.ones(3, np.float32)})
    for order in (("a", "b"), ("b", "a")):
        states = {k: brainsim.State(jnp.zeros(2), name=k) for k in order}
        before = {k: s.value for k, s in states.items()}
        with pytest.raises(CheckpointError, match="array 'b#0' does not match its metadata"):
            brainsim.load_checkpoint(tmp_path / "c.npz", states, include_rng=False)
        assert all(states[k].value is before[k] for k in states)
    rng_before = brainsim.random.DEFAULT.value
    with pytest.raises(CheckpointError):
        brainsim.load_checkpoint(tmp_path / "c.npz", states)
    assert brainsim.random.DEFAULT.value is rng_before


def _lif_drive(t):
    return 1.5 * u.mV + 0.5 * u.mV * jnp.sin(t / (0.7 * u.ms))


@pytest.mark.parametrize("as_dict", [False, True])
def test_runner_clock_is_saved_so_inputs_of_t_continue_after_loading(tmp_path, as_dict):
    """Saved at t=2 ms, loaded into a fresh model (clock 0) or one whose clock is at 5 ms:
    the next run starts at 2 ms and equals the second half of one uninterrupted run."""
    from brainsim.neurons import LIF
    from brainsim.runner import StateMonitor, run as bsrun

    brainsim.environ.set(dt=0.1 * u.ms)

    def lif():
        brainsim.random.seed(1)
        return brainsim.init_states(LIF(3, V_initializer=brainsim.init.Uniform(0. * u.mV,
                                                                                 1. * u.mV)))

    whole = lif()
    ref = bsrun(whole, 4. * u.ms, inputs=_lif_drive, progress=False,
                monitors={"V": StateMonitor(whole.V)})["V"]
    a = lif()
    bsrun(a, 2. * u.ms, inputs=_lif_drive, progress=False)
    path = brainsim.save_checkpoint(tmp_path / "ck.npz", {"net": a} if as_dict else a)
    for clock in (0., 5.):
        b = lif()
        if clock:
            bsrun(b, clock * u.ms, progress=False)
        brainsim.load_checkpoint(path, {"net": b} if as_dict else b)
        got = bsrun(b, 2. * u.ms, inputs=_lif_drive, progress=False,
                    monitors={"V": StateMonitor(b.V)})["V"]
        np.testing.assert_allclose(got.t.to_decimal(u.ms), ref.t.to_decimal(u.ms)[20:],
                                   rtol=1e-12)
        np.testing.assert_array_equal(np.asarray(got.values.mantissa),
                                      np.asarray(ref.values.mantissa)[20:])
    # a checkpoint saved before any run brings the clock back to 0
    fresh = brainsim.save_checkpoint(tmp_path / "fresh.npz", lif())
    brainsim.load_checkpoint(fresh, b)
    assert float(bsrun(b, 1. * u.ms, progress=False).t[0].to_decimal(u.ms)) == 0.
