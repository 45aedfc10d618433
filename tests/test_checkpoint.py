import json
import zipfile

import brainunit as u
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
