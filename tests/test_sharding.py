"""Networks split over several CPU host devices give the one-device results bit for bit.

The device count must be set before JAX starts, so the multi-device cases run in one
subprocess (``_sharding_worker.py``, 4 host devices) that reports its results as JSON; the
assertions are here. The reference is always the same model run unsharded on one device.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import brainsim
from brainsim import event, sharding

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def worker():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
               PYTHONPATH=str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("BRAINSIM_EVENT_BACKEND", None)
    out = subprocess.run([sys.executable, str(HERE / "_sharding_worker.py")], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_worker_has_four_devices(worker):
    assert worker["devices"] == 4


def test_import_does_not_start_jax_backends(worker):
    assert worker["backends_after_import"] is False


@pytest.mark.parametrize("D", ["2", "4"])
def test_poisson_delay_net_bit_identical(worker, D):
    ref, got = worker["poisson"]["None"], worker["poisson"][D]
    assert ref["count"] > 100 and ref["input_count"] > 50      # the network is active
    for k in ("spikes", "input", "V", "count", "input_count"):
        assert got[k] == ref[k], k
    assert got["V_spec"] == "P('neurons',)"


@pytest.mark.parametrize("D", ["2", "4"])
def test_coba_example_bit_identical(worker, D):
    ref = worker["coba"]["None"]
    assert ref["count"] > 100
    assert worker["coba"][D] == ref


@pytest.mark.parametrize("D", ["2", "4"])
def test_per_synapse_delays_bit_identical(worker, D):
    # ShardedHeteroDelayCSR on D devices against HeteroDelayCSR on one
    ref, got = worker["hetero_delay"]["None"], worker["hetero_delay"][D]
    assert ref["count"] > 100
    for k in ("spikes", "V", "count"):
        assert got[k] == ref[k], k
    # one all-gather per presynaptic population and step, nothing else; the packed
    # history is the same on every device
    assert got["collectives"] == {"all-gather": 2, "all-reduce": 0, "collective-permute": 0,
                                  "all-to-all": 0, "reduce-scatter": 0}
    assert got["history_replicated"] is True
    assert got["blocks_per_device"] == [1]


@pytest.mark.parametrize("D", ["2", "4"])
def test_one_all_gather_per_presynaptic_population_and_step(worker, D):
    # two projections (Poisson input, recurrent): one all-gather each per step, in the loop
    # body; nothing else moves between devices
    c = worker["poisson"][D]["collectives"]
    assert c == {"all-gather": 2, "all-reduce": 0, "collective-permute": 0, "all-to-all": 0,
                 "reduce-scatter": 0}
    # the FFI kernel runs per shard: its result is the local block of N / D columns
    assert worker["poisson"][D]["kernel_shapes"] == [f"1,{64 // int(D)}"]


def test_coba_projections_share_one_all_gather(worker):
    # E and I projections read the same spike vector: XLA keeps a single all-gather
    c = worker["coba_collectives"]
    assert c["all-gather"] == 1 and sum(c.values()) == 1


@pytest.mark.parametrize("D", ["2", "4"])
def test_coba_jitc_example_bit_identical(worker, D):
    ref = worker["coba_jitc"]["None"]
    assert ref["count"] > 100
    assert worker["coba_jitc"][D] == ref


def test_coba_jitc_one_all_gather_and_kernel_per_shard(worker):
    # E and I JITC projections gather the same spike vector once; nothing else is exchanged
    # (the draw is repeated per device, not combined by a reduction)
    c = dict(worker["coba_jitc_collectives"])
    shapes = c.pop("kernel_shapes")
    assert c == {"all-gather": 1, "all-reduce": 0, "collective-permute": 0, "all-to-all": 0,
                 "reduce-scatter": 0}
    # one compiled JITC kernel per projection, in the shard_map body, on the whole network
    assert shapes == ["1,400", "1,400"]


def test_checkpoint_saved_on_4_restores_on_2(worker):
    ck = worker["checkpoint"]
    assert ck["restored_devices"] == 2
    assert ck["on4"][1] > 20
    assert ck["on2"] == ck["on4"]


def test_vmap_over_mesh_equals_vmap(worker):
    v = worker["vmap"]
    assert v["spikes"] > 0 and v["equal"] and v["spec"] == "P('neurons',)"
    assert not v["retraced"]


def test_errors_name_population_and_mesh(worker):
    e = worker["errors"]
    assert "population 'LIF' has 10 neurons" in e["shard_model"]
    assert "mesh of 4 devices does not divide" in e["shard_model"] and e["unchanged"]
    assert "postsynaptic population has 10 neurons" in e["conn"]
    assert "ShardedJITC: the postsynaptic population has 10 neurons" in e["jitc"]
    assert "mesh of 4 devices does not divide" in e["jitc"]
    assert "ShardedHeteroDelayCSR: the postsynaptic population has 10 neurons" in e["hetero"]
    assert "ShardedHeteroDelayCSR: the presynaptic population has 6 neurons" in e["hetero_pre"]
    assert "built for a mesh of 4 devices" in e["hetero_mesh"]
    assert "placed on a mesh of 2 devices" in e["hetero_mesh"]
    assert "batch of 6 lanes does not split over a mesh of 4 devices" in e["vmap"]


# -- in this process (one device) ---------------------------------------------------------

def test_make_mesh_more_devices_than_exist():
    import jax
    n = len(jax.devices()) + 1
    with pytest.raises(ValueError, match=rf"devices={n}, but .* device\(s\) exist.*"
                                         rf"xla_force_host_platform_device_count={n}"):
        sharding.make_mesh(n)


def test_sharded_csr_on_one_device_equals_dense():
    rng = np.random.default_rng(1)
    W = ((rng.random((40, 24)) < 0.3) * rng.normal(size=(40, 24))).astype(np.float32)
    s = rng.random(40) < 0.4
    got = event.BinaryArray(s) @ sharding.ShardedCSR(event.CSR.from_dense(W),
                                                     sharding.make_mesh(1))
    np.testing.assert_allclose(np.asarray(got), s.astype(np.float32) @ W, rtol=1e-5, atol=1e-6)


def test_sharded_csr_refuses_other_operands():
    M = sharding.ShardedCSR(event.CSR.from_dense(np.eye(4, dtype=np.float32)),
                            sharding.make_mesh(1))
    with pytest.raises(TypeError, match="only BinaryArray"):
        M.__rmatmul__(np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"spikes must have shape \(4,\)"):
        event.BinaryArray(np.ones(3, bool)) @ M
    with pytest.raises(TypeError, match="csr must be a brainsim.event.CSR"):
        sharding.ShardedCSR(np.eye(4), sharding.make_mesh(1))


@pytest.mark.parametrize("cls", ["JITCScalarR", "JITCNormalR", "JITCUniformC"])
def test_sharded_jitc_on_one_device_equals_jitc_and_dense(cls):
    import brainunit as u
    args = (0.5 * u.nS, 0.3, 4) if cls == "JITCScalarR" else (0.2 * u.nS, 0.6 * u.nS, 0.3, 4)
    W = getattr(event, cls)(args, shape=(24, 16))
    s = np.random.default_rng(2).random(40) < 0.4
    Ws = sharding.ShardedJITC(W, sharding.make_mesh(1), offset=10, n_pre=40)
    got = event.BinaryArray(s) @ Ws
    want = event.BinaryArray(s[10:34]) @ W
    assert got.unit == u.nS
    np.testing.assert_array_equal(np.asarray(got.mantissa), np.asarray(want.mantissa))
    dense = s[10:34].astype(np.float32) @ np.asarray(W.todense().to_decimal(u.nS))
    np.testing.assert_allclose(np.asarray(got.mantissa), dense, rtol=1e-5, atol=1e-6)


def test_sharded_jitc_refuses_bad_input():
    W = event.JITCScalarR((1.0, 0.5, 0), shape=(8, 6))
    mesh = sharding.make_mesh(1)
    with pytest.raises(TypeError, match="jitc must be a brainsim.event JIT matrix"):
        sharding.ShardedJITC(event.CSR.from_dense(np.eye(4, dtype=np.float32)), mesh)
    with pytest.raises(ValueError, match=r"offset=4 .* do not fit .* n_pre=10"):
        sharding.ShardedJITC(W, mesh, offset=4, n_pre=10)
    M = sharding.ShardedJITC(W, mesh)
    with pytest.raises(TypeError, match="only BinaryArray"):
        M.__rmatmul__(np.ones(8, np.float32))
    with pytest.raises(ValueError, match=r"spikes must have shape \(8,\)"):
        event.BinaryArray(np.ones(3, bool)) @ M


def test_vmap_mesh_wants_out_axes_zero():
    with pytest.raises(ValueError, match="out_axes=0"):
        brainsim.vmap(lambda x: x, out_axes=None, mesh=sharding.make_mesh(1))(np.arange(2.))


def test_global_key_equals_prng_key():
    import jax
    r = brainsim.random.RandomState(12345)
    np.testing.assert_array_equal(np.asarray(r.value), np.asarray(jax.random.PRNGKey(12345)))


def test_example_devices_flag_sets_host_devices_and_matches_one_device():
    # no XLA_FLAGS given: --devices 2 must make the host devices itself
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    env.pop("XLA_FLAGS", None)
    out = subprocess.run([sys.executable, str(HERE.parent / "examples" / "ei_coba_lif.py"),
                          "--scale", "0.05", "--duration", "30", "--json", "--out", "",
                          "--devices", "2"], env=env, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    sys.path.insert(0, str(HERE.parent / "examples"))
    try:
        import ei_coba_lif
    finally:
        sys.path.pop(0)
    import brainunit as u
    _, spikes = ei_coba_lif.simulate(0.05, 30. * u.ms, 0, progress=False)
    assert spikes.count > 20
    assert got["devices"] == 2 and got["n_neurons"] == 200
    assert got["spike_count"] == spikes.count
    assert got["raster_sha256"] == ei_coba_lif.raster_sha256(spikes)
    assert abs(got["rate_hz"] - float(spikes.mean_rate().to_decimal(u.Hz))) < 1e-9


def test_sharded_checkpoint_errors_leave_the_model_unchanged(tmp_path):
    from brainsim import neurons
    mesh = sharding.make_mesh(1)
    net = sharding.shard_model(brainsim.init_states(neurons.LIF(4)), mesh)
    where = tmp_path / "ck"
    sharding.save_sharded(where, net)
    with pytest.raises(ValueError, match="exists already"):
        sharding.save_sharded(where, net)
    with pytest.raises(ValueError, match="no checkpoint directory"):
        sharding.restore_sharded(tmp_path / "nothing", net, mesh)
    other = brainsim.init_states(neurons.LIFRef(4))
    before = {k: v.value for k, v in other.states().items()}
    with pytest.raises(ValueError, match="has no state 't_last_spike'|has no state"):
        sharding.restore_sharded(where, other, mesh)
    assert all(other.states()[k].value is v for k, v in before.items())
    bigger = brainsim.init_states(neurons.LIF(8))
    V0 = bigger.V.value
    with pytest.raises(ValueError, match="does not match the model"):
        sharding.restore_sharded(where, bigger, mesh)
    assert bigger.V.value is V0


def test_sharded_hetero_delay_csr_on_one_device_equals_a_loop():
    """y[t, j] = sum_k w_k s[t - d_k, pre_k] over the synapses k onto j, by hand."""
    import brainunit as u
    import jax.numpy as jnp
    rng = np.random.default_rng(5)
    m, n, T = 40, 24, 30
    dense = (rng.random((m, n)) < 0.3) * rng.uniform(-1., 2., (m, n)).astype(np.float32)
    W = event.CSR.from_dense(dense * u.nS)
    pre, post = np.nonzero(dense)            # CSR order: rows, then columns
    d = rng.integers(0, 7, pre.shape[0])
    s = (rng.random((T, m)) < 0.2).astype(np.float32)
    want = np.zeros((T, n), np.float64)
    for t in range(T):
        for k in range(pre.shape[0]):
            if t - d[k] >= 0:
                want[t, post[k]] += dense[pre[k], post[k]] * s[t - d[k], pre[k]]
    with brainsim.environ.context(dt=0.5 * u.ms):
        c = brainsim.init_states(sharding.ShardedHeteroDelayCSR(W, d * 0.5 * u.ms,
                                                                sharding.make_mesh(1)))
        got = brainsim.for_loop(lambda x: c(x), jnp.asarray(s))
    np.testing.assert_allclose(np.asarray(got.to_decimal(u.nS)), want, rtol=1e-5, atol=1e-5)


def test_sharded_hetero_delay_csr_refuses_bad_input():
    import brainunit as u
    W = event.random_conn(8, 8, prob=0.5, seed=0)
    mesh = sharding.make_mesh(1)
    with pytest.raises(TypeError, match="conn must be a brainsim.event.CSR"):
        sharding.ShardedHeteroDelayCSR(np.ones((8, 8)), 1. * u.ms, mesh)
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        sharding.ShardedHeteroDelayCSR(W, 1. * u.ms, "mesh")
    with brainsim.environ.context(dt=0.1 * u.ms):
        c = sharding.ShardedHeteroDelayCSR(W, np.ones(3) * u.ms, mesh)
        with pytest.raises(ValueError, match=r"delays must be a scalar or shape \(\d+,\)"):
            brainsim.init_states(c)
        c = brainsim.init_states(sharding.ShardedHeteroDelayCSR(W, 0.2 * u.ms, mesh))
        with pytest.raises(ValueError, match=r"spikes must have shape \(8,\)"):
            c(np.ones(5, np.float32))


def test_shard_model_keeps_the_synapse_blocks_of_sharded_hetero_delay_csr():
    # shard_model's rule (split a leaf whose last axis is the owner's size, else replicate)
    # would copy every device's synapse block onto every device, and would split a history
    # whose word count happens to equal the number of columns (64 rows -> 2 words, 2 columns)
    import brainunit as u
    from jax.sharding import PartitionSpec as P
    mesh = sharding.make_mesh(1)
    rng = np.random.default_rng(0)
    W = event.CSR.from_dense((rng.random((64, 2)) < 0.5) * rng.random((64, 2)).astype(np.float32)
                             * u.nS)
    with brainsim.environ.context(dt=0.1 * u.ms):
        c = sharding.ShardedHeteroDelayCSR(W, rng.integers(0, 4, W.indices.shape[0]) * 0.1 * u.ms,
                                           mesh)
        c = sharding.shard_model(brainsim.init_states(c), mesh)
        assert [a.sharding.spec for a in c.arrays.value] == [P("neurons")] * 3
        assert c.d.value.sharding.spec == P("neurons")
        assert c.history.value.shape[-1] == 2 and c.history.value.sharding.spec == P()


def test_sharded_hetero_delay_csr_checkpoint_continues_the_run(tmp_path):
    # the history (spikes still in flight) and the pointer come back: the restored run
    # gives what the saved one went on to give, and the blocks stay one per device
    import brainunit as u
    import jax.numpy as jnp
    from jax.sharding import PartitionSpec as P
    mesh = sharding.make_mesh(1)
    rng = np.random.default_rng(3)
    W = event.CSR.from_dense((rng.random((32, 16)) < 0.3) *
                             rng.random((32, 16)).astype(np.float32) * u.nS)
    d = rng.integers(0, 8, W.indices.shape[0]) * 0.1 * u.ms
    s = jnp.asarray(rng.random((20, 32)) < 0.3, jnp.float32)
    with brainsim.environ.context(dt=0.1 * u.ms):
        def build():
            c = sharding.ShardedHeteroDelayCSR(W, d, mesh)
            return sharding.shard_model(brainsim.init_states(c), mesh)
        a = build()
        brainsim.for_loop(lambda x: a(x), s[:10])
        sharding.save_sharded(tmp_path / "ck", a)
        want = brainsim.for_loop(lambda x: a(x), s[10:])
        b = sharding.restore_sharded(tmp_path / "ck", build(), mesh)
        assert b.d.value.sharding.spec == P("neurons")
        got = brainsim.for_loop(lambda x: b(x), s[10:])
        fresh = build()
        cold = brainsim.for_loop(lambda x: fresh(x), s[10:])
    assert float(jnp.abs(want.mantissa).sum()) > 0
    assert not np.array_equal(np.asarray(cold.mantissa), np.asarray(want.mantissa))
    np.testing.assert_array_equal(np.asarray(got.mantissa), np.asarray(want.mantissa))
