"""Monitors: every decimation in any combination and order records what it records alone and
what a Python loop records; indices are checked; records that cannot fit are refused; a record
streamed to HDF5 equals the in-memory one."""
import itertools

import brainunit as u
import h5py
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from brainsim import init, neurons, runner
from brainsim.runner import RateMonitor, Runner, SpikeMonitor, StateMonitor, run
from brainsim.runner import _memory

EVERY = (1, 2, 3, 4, 6, 10)
IDX = [0, 3]


@pytest.fixture(autouse=True)
def _dt():
    brainsim.environ.set(dt=0.1 * u.ms)


def _lif(n=5):
    brainsim.random.seed(4)
    return brainsim.init_states(neurons.LIFRef(n, tau=5. * u.ms, tau_ref=0.5 * u.ms,
                                               V_initializer=init.Uniform(0. * u.mV, 1. * u.mV)))


def _drive(t):
    return 1.4 * u.mV + 0.6 * u.mV * jnp.sin(t / (0.7 * u.ms))


_REF = {}


def _reference(n_steps):
    """An eager Python loop: V at the start of every step, spikes after it."""
    if n_steps not in _REF:
        m = _lif()
        V, S = [], []
        for i in range(n_steps):
            V.append(np.asarray(m.V.value.mantissa)[IDX])
            S.append(np.asarray(m(_drive(i * 0.1 * u.ms))) > 0)
        _REF[n_steps] = np.stack(V), np.stack(S)
    return _REF[n_steps]


def _run(n_steps, everys, spikes_first=False):
    m = _lif()
    mons = {f"V{j}_{k}": StateMonitor(m.V, IDX, every=k) for j, k in enumerate(everys)}
    spk = {"spk": SpikeMonitor(m), "rate": RateMonitor(m)}
    mons = {**spk, **mons} if spikes_first else {**mons, **spk}
    return run(m, n_steps * 0.1 * u.ms, inputs=_drive, progress=False, monitors=mons)


def _check(res, n_steps, everys):
    V, S = _reference(n_steps)
    assert S.sum() > 3
    for j, k in enumerate(everys):
        tr = res[f"V{j}_{k}"]
        assert len(tr.t) == -(-n_steps // k)        # ceil(n / every) samples
        np.testing.assert_allclose(tr.t.to_decimal(u.ms), 0.1 * k * np.arange(len(tr.t)),
                                   rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(tr.values.mantissa), V[::k], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(res["spk"].dense(), S)
    np.testing.assert_allclose(np.asarray(res["rate"].rate.to_decimal(u.Hz)),
                               S.mean(1) / 1e-4, rtol=1e-5)


@pytest.mark.parametrize("n_steps", [37, pytest.param(60, marks=pytest.mark.slow)])
def test_every_pair_in_both_orders_matches_alone_and_a_python_loop(n_steps):
    # 37 steps is a multiple of none of the decimations; 60 of all of them
    alone = {k: _run(n_steps, [k]) for k in EVERY}
    for k in EVERY:
        _check(alone[k], n_steps, [k])
    for a, b in itertools.permutations(EVERY, 2):
        res = _run(n_steps, [a, b], spikes_first=a < b)
        _check(res, n_steps, [a, b])
        for j, k in enumerate((a, b)):
            np.testing.assert_array_equal(np.asarray(res[f"V{j}_{k}"].values.mantissa),
                                          np.asarray(alone[k][f"V0_{k}"].values.mantissa))


@pytest.mark.parametrize("triple", [(1, 4, 6), (10, 3, 2), (4, 6, 10), (2, 3, 1)])
def test_triples_in_both_orders(triple):
    for everys, first in ((triple, True), (triple[::-1], False)):
        for n_steps in (60, 37):
            _check(_run(n_steps, list(everys), first), n_steps, everys)


def test_out_of_range_index_is_refused():
    m = _lif()
    v = np.asarray(m.V.value.mantissa)
    with pytest.raises(ValueError, match=r"indices \[5, 7\] are out of range for a variable of 5 "
                                         r"neurons; give indices with 0 <= i < 5"):
        run(m, 1. * u.ms, progress=False, monitors={"V": StateMonitor(m.V, [0, 5, 7])})
    with pytest.raises(ValueError, match=r"indices \[-1\] are out of range"):
        run(m, 1. * u.ms, progress=False, monitors={"V": StateMonitor(m.V, [-1])})
    with pytest.raises(ValueError, match="indices must be a 1-D sequence of ints"):
        StateMonitor(m.V, [0.5])
    with pytest.raises(TypeError, match=r"StateMonitor: LIFRef has no state 'value' to record; "
                                        r"give one of its States \(e.g. neuron.V\)"):
        StateMonitor(m)
    np.testing.assert_array_equal(np.asarray(m.V.value.mantissa), v)


def test_record_that_cannot_fit_is_refused_before_running(monkeypatch):
    # 60 s of V for 4000 neurons at every step of 0.1 ms: 600000 x 4000 float32 = 9.6 GB
    m = brainsim.init_states(neurons.LIF(4000))
    v = np.asarray(m.V.value.mantissa)
    monkeypatch.setattr(_memory, "available_memory", lambda: 8 * 10 ** 9)
    with pytest.raises(ValueError, match=r"need 9\.6 GB of memory but 8\.0 GB is available; "
                                         r"monitor 'V' alone records 600000 x \(4000,\) float32 "
                                         r"values = 9\.6 GB.*every=10.*indices=.*path='V\.h5'"):
        run(m, 60. * u.second, progress=False, monitors={"V": StateMonitor(m.V)})
    np.testing.assert_array_equal(np.asarray(m.V.value.mantissa), v)
    # the estimate counts the decimated samples only: 60000 x 4000 float32 = 0.96 GB
    monkeypatch.setattr(_memory, "available_memory", lambda: 5 * 10 ** 8)
    with pytest.raises(ValueError, match=r"records 60000 x \(4000,\) float32 values = 1\.0 GB"):
        run(m, 60. * u.second, progress=False, monitors={"V": StateMonitor(m.V, every=10)})


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_available_memory_honours_cgroup_limits(tmp_path, monkeypatch):
    _write(tmp_path / "meminfo", "MemTotal: 100 kB\nMemAvailable:    5000 kB\n")
    monkeypatch.setattr(_memory, "_MEMINFO", str(tmp_path / "meminfo"))
    monkeypatch.setattr(_memory, "_CGROUP_V2", str(tmp_path / "v2"))
    monkeypatch.setattr(_memory, "_CGROUP_V1", str(tmp_path / "v1"))
    assert _memory.available_memory() == 5000 * 1024        # no cgroup files: MemAvailable
    _write(tmp_path / "v1" / "memory.limit_in_bytes", "9223372036854771712\n")
    assert _memory.available_memory() == 5000 * 1024        # v1 without a limit
    _write(tmp_path / "v1" / "memory.limit_in_bytes", "3000000\n")
    _write(tmp_path / "v1" / "memory.usage_in_bytes", "1000000\n")
    _write(tmp_path / "v1" / "memory.stat", "cache 10\ntotal_inactive_file 250000\n")
    assert _memory.available_memory() == 3000000 - (1000000 - 250000)
    _write(tmp_path / "v2" / "memory.max", "max\n")
    assert _memory.available_memory() == 3000000 - 750000   # v2 unlimited: v1 decides
    _write(tmp_path / "v2" / "memory.max", "2000000\n")
    _write(tmp_path / "v2" / "memory.current", "1500000\n")
    _write(tmp_path / "v2" / "memory.stat", "anon 5\ninactive_file 100000\n")
    assert _memory.available_memory() == 2000000 - 1400000
    assert runner.available_memory() > 0


# (every, chunked): a streamed record in many chunks, or small enough for one (it wrote no file)
STREAMS = [(1, True), (3, True), (1, False), (3, False)]


@pytest.mark.parametrize("every,chunked", STREAMS)
def test_streamed_record_equals_the_in_memory_record(tmp_path, monkeypatch, every, chunked):
    def once(path, chunked):
        m = _lif()
        if chunked:   # a few hundred bytes per chunk: 37 steps go in many chunks
            monkeypatch.setattr(runner._run, "_STREAM_CHUNK_BYTES", 64)
        r = Runner(m, inputs=_drive, progress=False,
                   monitors={"V": StateMonitor(m.V, IDX, every=every, path=path),
                             "all": StateMonitor(m.V, every=every), "spk": SpikeMonitor(m)})
        out = []
        for d in (3.7 * u.ms, 2. * u.ms):   # the second run continues the clock
            res = r.run(d)
            # read now: each run writes the file anew
            out.append((res, np.asarray(res["V"].values.mantissa), res["V"].path))
        return out

    mem = once(None, False)
    got = once(tmp_path / "v.h5", chunked)
    for (a, va, pa), (b, vb, pb) in zip(mem, got):
        assert pa is None and pb == str(tmp_path / "v.h5")
        # samples at the steps i of the model's clock with i % every == 0
        steps = np.round(a.t.to_decimal(u.ms) / 0.1).astype(int)
        np.testing.assert_allclose(a["V"].t.to_decimal(u.ms), 0.1 * steps[steps % every == 0],
                                   rtol=1e-12)
        assert va.shape == ((steps % every == 0).sum(), len(IDX))
        np.testing.assert_array_equal(vb, va)
        np.testing.assert_array_equal(np.asarray(b["V"].t.mantissa), np.asarray(a["V"].t.mantissa))
        np.testing.assert_array_equal(np.asarray(b["all"].values.mantissa),
                                      np.asarray(a["all"].values.mantissa))
        np.testing.assert_array_equal(b["spk"].dense(), a["spk"].dense())
    got = [g[0] for g in got]
    mem = [g[0] for g in mem]
    with pytest.raises(ValueError, match="cannot write path=.*the folder .* does not exist"):
        run(_lif(), 1. * u.ms, progress=False,
            monitors={"V": StateMonitor(_lif().V, path=tmp_path / "no" / "v.h5")})
    # the file reads on its own; read() gives a range of rows with the unit
    with h5py.File(tmp_path / "v.h5") as f:
        np.testing.assert_array_equal(f["values"][...], np.asarray(got[1]["V"].values.mantissa))
        np.testing.assert_allclose(f["t"][...], got[1]["V"].t.to_decimal(u.ms))
        assert f.attrs["unit"] == "mV" and f.attrs["every"] == every
    np.testing.assert_array_equal(np.asarray(got[1]["V"].read(1, 3).to_decimal(u.mV)),
                                  np.asarray(mem[1]["V"].values.to_decimal(u.mV))[1:3])


# ---- spike records: events decoded from the words that hold a spike -------------------------
def _lif_n(n, tau_ref):
    brainsim.random.seed(5)
    return brainsim.init_states(neurons.LIFRef(n, tau=5. * u.ms, tau_ref=tau_ref,
                                               V_initializer=init.Uniform(0. * u.mV, 1. * u.mV)))


def _raster(model, drive, n_steps):
    """Spikes of an eager Python loop, one row per step."""
    return np.stack([np.asarray(model(drive(k * 0.1 * u.ms))) > 0 for k in range(n_steps)])


def _burst(t):     # silent, then strong enough for every neuron to fire in the same step
    return u.math.where(t >= 1.95 * u.ms, 5000. * u.mV, 0. * u.mV)


# name, neurons (64-bit words: 1, 3, 1, 2), refractory period, drive
ACTIVITY = [
    ("silent", 5, 0.5 * u.ms, lambda t: 0. * u.mV),
    ("sparse", 130, 0.5 * u.ms, _drive),
    ("one burst of all neurons", 64, 100. * u.ms, _burst),
    ("all neurons every step", 65, 0. * u.ms, lambda t: 100. * u.mV),
]


@pytest.mark.parametrize("name,n,tau_ref,drive", ACTIVITY, ids=[a[0] for a in ACTIVITY])
def test_spike_record_equals_the_dense_raster(name, n, tau_ref, drive):
    ref = _raster(_lif_n(n, tau_ref), drive, 70)
    m = _lif_n(n, tau_ref)
    mons = {"spk": SpikeMonitor(m), "V3": StateMonitor(m.V, IDX, every=3),
            "V": StateMonitor(m.V, every=1)}
    r = Runner(m, inputs=drive, progress=False, monitors=mons)
    recs = [r.run(2.3 * u.ms), r.run(4.7 * u.ms)]     # the second run continues the clock
    assert (ref.sum() > 0) == (name != "silent")
    if name == "one burst of all neurons":
        assert ref.sum(1).max() == n == ref.sum()
    if name == "all neurons every step":
        assert ref.all()
    # the record the byte-wise decode gave: np.nonzero of the raster, stamped with the step's start
    for res, rows in zip(recs, (ref[:23], ref[23:])):
        rec, steps0 = res["spk"], int(round(float(res.t[0].to_decimal(u.ms)) / 0.1))
        steps, idx = np.nonzero(rows)
        np.testing.assert_array_equal(rec.steps, steps)
        np.testing.assert_array_equal(rec.i, idx)
        np.testing.assert_array_equal(np.asarray(rec.t.mantissa), np.asarray(res.t[steps].mantissa))
        np.testing.assert_array_equal(rec.dense(), rows)
        assert rec.n == n and rec.count == rows.sum() and len(rec.run_t) == len(rows)
        # the decimated monitor beside it samples the steps i % 3 == 0 of the model's clock
        grid = steps0 + np.arange(len(rows))
        np.testing.assert_array_equal(np.asarray(res["V3"].values.mantissa),
                                      np.asarray(res["V"].values.mantissa)[grid % 3 == 0][:, IDX])
    # recording does not change the dynamics
    b = _lif_n(n, tau_ref)
    run(b, 7. * u.ms, inputs=drive, progress=False)
    np.testing.assert_array_equal(np.asarray(m.V.value.mantissa), np.asarray(b.V.value.mantissa))


# (neurons, parts): the record packs each part's neurons on its own (the layout of spikes split
# over devices); parts of 0, 1, 16, 65, 130 and 200 neurons, on both sides of the 64-neuron word
PARTS = [(0, 1), (1, 1), (130, 1), (64, 4), (130, 2), (800, 4)]


@pytest.mark.parametrize("n,parts", PARTS)
def test_spike_record_codec_per_part_equals_nonzero(n, parts):
    raster = np.random.default_rng(n + parts).random((9, n)) < 0.3
    raster[2] = True        # every neuron in one step, and none in another
    raster[5] = False
    cur = [None]
    mon = SpikeMonitor(lambda: cur[0])
    mon._get, mon._n, mon._parts = (lambda: cur[0]), n, parts
    rows = []
    for row in raster:
        cur[0] = jnp.asarray(row)
        rows.append(np.asarray(mon.record()))
    assert rows[0].shape == (parts * (-(-(n // parts) // 64) * 8),)
    steps, idx = mon._decode(np.stack(rows), len(raster))
    ref_steps, ref_idx = np.nonzero(raster)
    np.testing.assert_array_equal(steps, ref_steps)
    np.testing.assert_array_equal(idx, ref_idx)


def test_spike_record_in_a_streamed_run(tmp_path, monkeypatch):
    monkeypatch.setattr(runner._run, "_STREAM_CHUNK_BYTES", 64)    # many small chunks
    m = _lif_n(70, 0.5 * u.ms)
    res = run(m, 3.7 * u.ms, inputs=_drive, progress=False,
              monitors={"V": StateMonitor(m.V, IDX, every=2, path=tmp_path / "v.h5"),
                        "spk": SpikeMonitor(m)})
    ref = _raster(_lif_n(70, 0.5 * u.ms), _drive, 37)
    assert ref.sum() > 3
    np.testing.assert_array_equal(res["spk"].dense(), ref)
    np.testing.assert_array_equal(res["spk"].i, np.nonzero(ref)[1])


def test_a_monitor_subclass_must_define_record_and_finish():
    from brainsim.runner._monitors import _Monitor

    class Half(_Monitor):
        pass

    with pytest.raises(TypeError, match=r"Half must define record\(\)"):
        Half().record()
    with pytest.raises(TypeError, match=r"Half must define finish\(data, t, dt\)"):
        Half().finish(None, None, None)
