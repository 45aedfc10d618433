"""Run by tests/test_sharding.py in a subprocess with 4 CPU host devices (the device count must
be set before JAX starts). Prints one JSON line of results; the test makes the assertions."""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import warnings

warnings.simplefilter("error")
# as in pyproject: orbax-checkpoint names a jax attribute that jax 0.12.1 deprecates
warnings.filterwarnings("ignore", category=DeprecationWarning, module="orbax")

import brainunit as u  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import brainsim  # noqa: E402
from brainsim import event, init, neurons, projections, sharding, synapses  # noqa: E402
from brainsim.environ import _environ  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor, StateMonitor  # noqa: E402
from jax._src import xla_bridge  # noqa: E402

# jax.distributed.initialize must come before JAX's backends start: importing brainsim (which
# creates the global random key) must not start them
BACKENDS_AFTER_IMPORT = xla_bridge.backends_are_initialized()

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples"))
import ei_coba_lif  # noqa: E402

N_IN, N = 64, 64
COLLECTIVES = ("all-gather", "all-reduce", "collective-permute", "all-to-all", "reduce-scatter")


class PoissonDelayNet(brainsim.DynamicsModule):
    """Poisson input -> LIF with a 1.5 ms delay, LIF -> LIF with 1 ms, random initial V.

    With ``per_synapse=True`` every synapse has its own delay (0 to 2 ms) instead
    (``HeteroDelayCSR``, or ``ShardedHeteroDelayCSR`` on a mesh).
    """

    def __init__(self, mesh=None, per_synapse=False):
        super().__init__(N)
        self.inp = neurons.PoissonSpike(N_IN, 40. * u.Hz)
        self.neu = neurons.LIF(N, tau=10. * u.ms, V_rest=-65. * u.mV, V_th=-50. * u.mV,
                               V_reset=-65. * u.mV, R=1. * u.Gohm,
                               V_initializer=init.Normal(-60. * u.mV, 3. * u.mV))
        rng = np.random.default_rng(2 if per_synapse else 0)
        W_in = event.CSR.from_dense((rng.random((N_IN, N)) < 0.2) *
                                    rng.uniform(1., 3., (N_IN, N)).astype(np.float32) * u.nS)
        W_rec = event.random_conn(N, N, prob=0.1, seed=4 if per_synapse else 3,
                                  weight=1. * u.nS)
        if per_synapse:
            comms, delays = [], (None, None)
            for W in (W_in, W_rec):
                d = rng.integers(0, 21, W.indices.shape[0]) * 0.1 * u.ms
                comms.append(projections.HeteroDelayCSR(W, d) if mesh is None else
                             sharding.ShardedHeteroDelayCSR(W, d, mesh))
        else:
            if mesh is not None:
                W_in, W_rec = sharding.ShardedCSR(W_in, mesh), sharding.ShardedCSR(W_rec, mesh)
            comms = [lambda s: event.BinaryArray(s) @ W_in, lambda s: event.BinaryArray(s) @ W_rec]
            delays = (1.5 * u.ms, 1. * u.ms)
        self.p_in = projections.AlignPostProj(
            comms[0], synapses.Expon(N, 5. * u.ms), synapses.COBA(E=0. * u.mV),
            post=self.neu, pre=self.inp, delay=delays[0])
        self.p_rec = projections.AlignPostProj(
            comms[1], synapses.Expon(N, 10. * u.ms), synapses.COBA(E=-80. * u.mV),
            post=self.neu, pre=self.neu, delay=delays[1])

    def update(self):
        self.inp()
        self.p_in()
        self.p_rec()
        return self.neu(0. * u.nA)


def digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def hlo_of_run(runner: Runner, steps: int) -> str:
    """The optimised HLO of the runner's compiled loop for ``steps`` steps."""
    jf = runner._compiled[(steps, False)][0]
    states = jf._current_states()
    static, dyn, kw = jf._static.split((jnp.asarray(0, jnp.int32), ()), {})
    low = jf._compiled.lower(_environ._SIGNATURE[0], static, [s._value for s in states], dyn, kw)
    return low.compile().as_text()


def collectives(hlo: str) -> dict:
    return {c: len(re.findall(rf"\b{c}(?:-start)?\(", hlo)) for c in COLLECTIVES}


def poisson_run(D: int | None) -> dict:
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(7)
    mesh = None if D is None else sharding.make_mesh(D)
    net = brainsim.init_states(PoissonDelayNet(mesh))
    if mesh is not None:
        sharding.shard_model(net, mesh)
    r = Runner(net, monitors={"s": SpikeMonitor(net.neu), "inp": SpikeMonitor(net.inp),
                              "V": StateMonitor(net.neu.V)}, progress=False)
    res = r.run(50. * u.ms)
    s, si, V = res["s"], res["inp"], res["V"]
    out = {"spikes": digest(s.steps, s.i), "count": int(s.count),
           "input": digest(si.steps, si.i), "input_count": int(si.count),
           "V": digest(np.asarray(V.values.to_decimal(u.mV), np.float32))}
    if mesh is not None:
        hlo = hlo_of_run(r, 500)
        out["collectives"] = collectives(hlo)
        calls = re.findall(r"f32\[([0-9,]+)\][^\n]*"
                           r"custom_call_target=\"brainsim_csr_scatter\"", hlo)
        out["kernel_shapes"] = sorted(set(calls))
        out["V_spec"] = str(net.neu.V.value.mantissa.sharding.spec)
    return out


def coba(D: int | None, ms: float = 60., conn: str = "csr") -> dict:
    _, spikes = ei_coba_lif.simulate(0.1, ms * u.ms, 0, progress=False, devices=D or 1,
                                     conn=conn)
    return {"raster": ei_coba_lif.raster_sha256(spikes), "count": int(spikes.count)}


def coba_hlo(conn: str = "csr") -> dict:
    brainsim.environ.set(dt=0.1 * u.ms)
    mesh = sharding.make_mesh(4)
    net = brainsim.init_states(ei_coba_lif.EINet(0.1, 0, mesh, conn))
    sharding.shard_model(net, mesh)
    r = Runner(net, monitors={"s": SpikeMonitor(net.neu)}, progress=False)
    r.run(1. * u.ms)
    hlo = hlo_of_run(r, 10)
    out = collectives(hlo)
    if conn == "jitc":
        # the compiled JITC kernel runs inside the shard_map body: on the gathered spikes
        out["kernel_shapes"] = sorted(re.findall(
            r"f32\[([0-9,]+)\][^\n]*custom_call_target=\"brainsim_jitc\"", hlo))
    return out


def hetero_delay_run(D: int | None) -> dict:
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(11)
    mesh = None if D is None else sharding.make_mesh(D)
    net = brainsim.init_states(PoissonDelayNet(mesh, per_synapse=True))
    if mesh is not None:
        sharding.shard_model(net, mesh)
    r = Runner(net, monitors={"s": SpikeMonitor(net.neu), "V": StateMonitor(net.neu.V)},
               progress=False)
    res = r.run(40. * u.ms)
    s = res["s"]
    out = {"spikes": digest(s.steps, s.i), "count": int(s.count),
           "V": digest(np.asarray(res["V"].values.to_decimal(u.mV), np.float32))}
    if mesh is not None:
        out["collectives"] = collectives(hlo_of_run(r, 400))
        spec = net.p_rec.comm.history.value.sharding.spec
        out["history_replicated"] = all(a is None for a in spec)
        # each device holds only its own block of synapses (not a copy of all of them)
        comm = net.p_rec.comm
        blocks = [*comm.arrays.value[1:], comm.d.value]
        out["blocks_per_device"] = sorted({sh.data.shape[0] for a in blocks
                                           for sh in a.addressable_shards})
    return out


def checkpoint_4_to_2() -> dict:
    brainsim.environ.set(dt=0.1 * u.ms)

    def build(D):
        mesh = sharding.make_mesh(D)
        brainsim.random.seed(1)
        net = brainsim.init_states(PoissonDelayNet(mesh))
        return sharding.shard_model(net, mesh), mesh

    def go(net):
        res = Runner(net, monitors={"s": SpikeMonitor(net.neu)}, progress=False).run(20. * u.ms)
        return digest(res["s"].steps, res["s"].i), int(res["s"].count)

    net4, _ = build(4)
    go(net4)
    where = os.path.join(tempfile.mkdtemp(), "ckpt")
    sharding.save_sharded(where, net4)
    on4 = go(net4)
    net2, mesh2 = build(2)
    sharding.restore_sharded(where, net2, mesh2)
    n_dev = len(net2.neu.V.value.mantissa.sharding.device_set)
    on2 = go(net2)
    return {"on4": on4, "on2": on2, "restored_devices": n_dev}


def vmap_trials() -> dict:
    brainsim.environ.set(dt=0.1 * u.ms)
    traces = [0]

    def make(mesh):
        brainsim.random.seed(5)
        net = brainsim.init_states(neurons.LIF(6, tau=10. * u.ms), batch_size=8)

        def trial(amp):
            traces[0] += 1

            def step(i):
                return net(amp * u.mV + brainsim.random.normal(size=(6,)) * 5. * u.mV)
            return brainsim.for_loop(step, jnp.arange(300))
        return brainsim.jit(brainsim.vmap(trial, batched_states=lambda: net.states(), mesh=mesh))

    amps = jnp.linspace(15., 30., 8)
    plain = np.asarray(make(None)(amps))
    f = make(sharding.make_mesh(4))
    out = f(amps)
    f(amps)                       # the states now live on the mesh: compiled for that
    after_first = traces[0]
    f(amps * 1.1)
    return {"equal": bool(np.array_equal(plain, np.asarray(out))), "spikes": float(plain.sum()),
            "spec": str(out.sharding.spec), "retraced": traces[0] != after_first}


def errors() -> dict:
    out = {}
    brainsim.environ.set(dt=0.1 * u.ms)
    net = brainsim.init_states(neurons.LIF(10))
    V0 = net.V.value
    try:
        sharding.shard_model(net, sharding.make_mesh(4))
    except ValueError as e:
        out["shard_model"] = str(e)
        out["unchanged"] = net.V.value is V0
    try:
        sharding.ShardedCSR(event.random_conn(8, 10, prob=0.5, seed=0), sharding.make_mesh(4))
    except ValueError as e:
        out["conn"] = str(e)
    try:
        sharding.ShardedJITC(event.JITCScalarR((1., 0.5, 0), shape=(8, 10)), sharding.make_mesh(4))
    except ValueError as e:
        out["jitc"] = str(e)
    try:
        sharding.ShardedHeteroDelayCSR(event.random_conn(8, 10, prob=0.5, seed=0), 1. * u.ms,
                                       sharding.make_mesh(4))
    except ValueError as e:
        out["hetero"] = str(e)
    try:
        c = brainsim.init_states(sharding.ShardedHeteroDelayCSR(
            event.random_conn(8, 8, prob=0.5, seed=0), 1. * u.ms, sharding.make_mesh(4)))
        sharding.shard_model(c, sharding.make_mesh(2))
    except ValueError as e:
        out["hetero_mesh"] = str(e)
    try:
        sharding.ShardedHeteroDelayCSR(event.random_conn(6, 8, prob=0.5, seed=0), 1. * u.ms,
                                       sharding.make_mesh(4))
    except ValueError as e:
        out["hetero_pre"] = str(e)
    try:
        brainsim.vmap(lambda x: x, mesh=sharding.make_mesh(4))(jnp.arange(6.))
    except ValueError as e:
        out["vmap"] = str(e)
    return out


def main():
    res = {"backends_after_import": BACKENDS_AFTER_IMPORT, "devices": len(jax.devices())}
    res["poisson"] = {str(D): poisson_run(D) for D in (None, 2, 4)}
    res["coba"] = {str(D): coba(D) for D in (None, 2, 4)}
    res["hetero_delay"] = {str(D): hetero_delay_run(D) for D in (None, 2, 4)}
    res["coba_collectives"] = coba_hlo()
    res["coba_jitc"] = {str(D): coba(D, 40., "jitc") for D in (None, 2, 4)}
    res["coba_jitc_collectives"] = coba_hlo("jitc")
    res["checkpoint"] = checkpoint_4_to_2()
    res["vmap"] = vmap_trials()
    res["errors"] = errors()
    print(json.dumps(res))


if __name__ == "__main__":
    main()
