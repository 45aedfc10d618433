"""COBA-LIF: the conductance-based E/I balanced network (Vogels & Abbott 2005; Brette et al. 2007).

4000 leaky integrate-and-fire neurons (3200 excitatory, 800 inhibitory), random connectivity
with p = 0.02, exponential conductances, 1 s of activity. Prints the mean rates and writes a raster.

    python examples/ei_coba_lif.py [--scale 1] [--duration 1000] [--seed 0] [--out raster.png]
                                   [--conn csr|jitc|csr80] [--devices N] [--processes P] [--json]
                                   [--live [FILE.gif|FILE.mp4]] [--refresh 10] [--threads T]

``--conn jitc`` uses just-in-time connectivity with 80 connections per neuron on average
(p = 80 / N) and the unscaled weights of the 4,000-neuron network, as in the scaling experiment
of the BrainPy paper: nothing of the size of the synapse count is stored, so memory stays O(N)
(e.g. ``--scale 1000 --duration 100 --conn jitc``: 4,000,000 neurons); ``--conn csr80`` is that
network stored as CSR.

``--devices N`` splits the network over N devices (on a CPU it makes N host devices when fewer
exist); ``--processes P`` launches P local processes that cooperate through jax.distributed,
each with N / P devices. The spikes are the same, bit for bit, on any number of devices.
With ``--conn jitc`` every device regenerates the whole JIT matrix and keeps its own columns
(the draw is repeated, not divided; memory stays O(N)).
``--json`` prints one line with n_neurons, rate_hz, spike_count and raster_sha256 (and the
devices and processes used) instead of a raster.
``--threads T`` runs each compiled program on T threads: at 4,000 neurons one thread is the
fastest (XLA's split of a fusion over two cores costs more than it saves at this size).
``--live`` shows the raster while the network runs (``brainsim.plot.LivePlot``, a frame every
``--refresh`` ms): in a window with a display, otherwise (or with a file name) as a GIF/MP4.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def _scale_out_args(p: argparse.ArgumentParser) -> None:
    """The flags of the devices/processes part."""
    p.add_argument("--devices", type=int, default=1,
                   help="split the network over this many devices (all processes together)")
    p.add_argument("--processes", type=int, default=1,
                   help="launch this many local processes joined by jax.distributed")
    p.add_argument("--coordinator", default=None, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--timeout", type=float, default=120., help=argparse.SUPPRESS)


def _host_devices_from_argv(argv: list[str]) -> None:
    """Before JAX starts: give a CPU as many host devices as this process needs."""
    pre = argparse.ArgumentParser(add_help=False)
    _scale_out_args(pre)
    a, _ = pre.parse_known_args(argv)
    per_proc = max(1, a.devices // max(1, a.processes))
    flags = os.environ.get("XLA_FLAGS", "")
    if per_proc > 1 and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={per_proc}").strip()


if __name__ == "__main__":
    _host_devices_from_argv(sys.argv[1:])

import brainunit as u  # noqa: E402
import numpy as np  # noqa: E402

import brainsim  # noqa: E402
from brainsim import event, init, neurons, projections, synapses  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor  # noqa: E402


def _whole_rows(W, offset: int, n: int):
    """The (rows, n) CSR ``W`` as rows ``offset ..`` of an (n, n) CSR (the other rows empty)."""
    ip = np.asarray(W.indptr)
    nse = ip[-1]
    ptr = np.concatenate([np.zeros(offset, ip.dtype), ip,
                          np.full(n - offset - W.shape[0], nse, ip.dtype)])
    return event.CSR((W.weight, W.indices, ptr), shape=(n, n))


class EINet(brainsim.DynamicsModule):
    """The COBA network: one LIF population whose first 80 % are excitatory.

    With ``mesh`` the connectivity is split by postsynaptic neuron over the mesh
    (``brainsim.sharding.ShardedCSR``, or ``ShardedJITC`` for ``conn='jitc'``, which repeats
    the JIT draw on every device); each projection then reads the whole spike vector.
    """

    def __init__(self, scale: float = 1.0, seed: int = 0, mesh=None, conn: str = "csr"):
        n_exc, n_inh = int(3200 * scale), int(800 * scale)
        n = n_exc + n_inh
        super().__init__(n)
        self.n_exc, self.n_inh = n_exc, n_inh
        self.neu = neurons.LIFRef(
            n, tau=20. * u.ms, V_rest=-60. * u.mV, V_th=-50. * u.mV, V_reset=-60. * u.mV,
            R=100. * u.Mohm,                       # 1 / g_L with g_L = 10 nS, C = 200 pF
            tau_ref=5. * u.ms, V_initializer=init.Normal(-55. * u.mV, 2. * u.mV))
        W_exc, W_inh = connectivity(conn, n_exc, n_inh, scale, seed)
        ne = self.n_exc
        if mesh is None and conn != "jitc":
            # the whole spike vector against rows offset into an (n, n) CSR: same sums in the
            # same order as slicing s[:ne] / s[ne:] (bit-identical spikes), but two fewer XLA
            # thunks per step (the slice copies), ~10 % of the step at 4,000 neurons
            Se, Si = _whole_rows(W_exc, 0, n), _whole_rows(W_inh, ne, n)
            exc = lambda s: event.BinaryArray(s) @ Se                  # noqa: E731
            inh = lambda s: event.BinaryArray(s) @ Si                  # noqa: E731
        elif mesh is None:
            exc = lambda s: event.BinaryArray(s[:ne]) @ W_exc          # noqa: E731
            inh = lambda s: event.BinaryArray(s[ne:]) @ W_inh          # noqa: E731
        elif conn == "jitc":
            from brainsim.sharding import ShardedJITC
            Se = ShardedJITC(W_exc, mesh, offset=0, n_pre=n)
            Si = ShardedJITC(W_inh, mesh, offset=ne, n_pre=n)
            exc = lambda s: event.BinaryArray(s) @ Se                  # noqa: E731
            inh = lambda s: event.BinaryArray(s) @ Si                  # noqa: E731
        else:
            from brainsim.sharding import ShardedCSR
            Se = ShardedCSR(_whole_rows(W_exc, 0, n), mesh)
            Si = ShardedCSR(_whole_rows(W_inh, ne, n), mesh)
            exc = lambda s: event.BinaryArray(s) @ Se                  # noqa: E731
            inh = lambda s: event.BinaryArray(s) @ Si                  # noqa: E731
        self.exc = projections.AlignPostProj(
            exc, synapses.Expon(n, 5. * u.ms), synapses.COBA(E=0. * u.mV),
            post=self.neu, pre=self.neu)
        self.inh = projections.AlignPostProj(
            inh, synapses.Expon(n, 10. * u.ms), synapses.COBA(E=-80. * u.mV),
            post=self.neu, pre=self.neu)

    def update(self, current=200. * u.pA):
        self.exc()            # deliver the spikes of the previous step
        self.inh()
        return self.neu(current)


def connectivity(conn: str, n_exc: int, n_inh: int, scale: float, seed: int):
    """The E -> all and I -> all matrices.

    ``'csr'``: stored, p = 0.02 with the weights divided by ``scale`` (the input per neuron
    grows with N otherwise). ``'jitc'``: regenerated from a seed in every product, p = 80 / N
    (80 connections per neuron on average, as at scale 1) with the unscaled weights.
    ``'csr80'``: the network of ``'jitc'`` (p = 80 / N, unscaled weights), stored as CSR.
    """
    n = n_exc + n_inh
    if conn == "csr":
        w_exc, w_inh = 6. / scale * u.nS, 67. / scale * u.nS
        return (event.random_conn(n_exc, n, prob=0.02, seed=seed, weight=w_exc),
                event.random_conn(n_inh, n, prob=0.02, seed=seed + 1, weight=w_inh))
    if conn == "csr80":
        prob = min(1.0, 80. / n)
        return (event.random_conn(n_exc, n, prob=prob, seed=seed, weight=6. * u.nS),
                event.random_conn(n_inh, n, prob=prob, seed=seed + 1, weight=67. * u.nS))
    if conn == "jitc":
        prob = min(1.0, 80. / n)
        return (event.JITCScalarR((6. * u.nS, prob, seed), shape=(n_exc, n)),
                event.JITCScalarR((67. * u.nS, prob, seed + 1), shape=(n_inh, n)))
    raise ValueError(f"conn must be 'csr', 'csr80' or 'jitc', got {conn!r}")


def simulate(scale: float = 1.0, duration=1000. * u.ms, seed: int = 0, progress: bool = True,
             devices: int = 1, conn: str = "csr", live=None):
    """Build and run the network, split over ``devices`` devices if > 1; ``live``: a
    ``brainsim.plot.LivePlot`` that draws the raster while it runs.

    Returns ``(net, spike record)``.
    """
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(seed)
    mesh = None
    if devices > 1:
        from brainsim import sharding
        mesh = sharding.make_mesh(devices)
    net = brainsim.init_states(EINet(scale, seed, mesh, conn))
    if mesh is not None:
        sharding.shard_model(net, mesh)
        progress = False
    res = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=progress,
                 live=live).run(duration)
    return net, res["spikes"]


def raster_sha256(spikes) -> str:
    """SHA-256 of the recorded raster: the spike neurons then their steps, as little-endian int64."""
    h = hashlib.sha256(np.ascontiguousarray(spikes.i, "<i8").tobytes())
    h.update(np.ascontiguousarray(spikes.steps, "<i8").tobytes())
    return h.hexdigest()


def json_summary(spikes, devices: int = 1, processes: int = 1) -> str:
    """The ``--json`` line: population size, mean rate over the whole run, spike count, hash."""
    return json.dumps({"n_neurons": int(spikes.n),
                       "rate_hz": float(spikes.mean_rate().to_decimal(u.Hz)),
                       "spike_count": int(spikes.count), "raster_sha256": raster_sha256(spikes),
                       "devices": devices, "processes": processes})


def add_conn_flags(p: argparse.ArgumentParser) -> None:
    """``--conn`` and ``--json`` (see the module docstring)."""
    p.add_argument("--conn", choices=("csr", "jitc", "csr80"), default="csr",
                   help="stored random connectivity (p = 0.02), just-in-time (p = 80 / N), "
                        "or the latter stored as CSR")
    p.add_argument("--json", action="store_true",
                   help="print one JSON line (n_neurons, rate_hz, spike_count, raster_sha256)")


def _launch_processes(argv: list[str], a) -> int:
    """Run this script in ``a.processes`` local processes joined by jax.distributed."""
    from brainsim.sharding import launch_local
    if a.devices % a.processes:
        raise SystemExit(f"--devices {a.devices} must be a multiple of --processes "
                         f"{a.processes} (each process gets devices / processes of them).")
    return launch_local(__file__, argv, a.processes, timeout=a.timeout,
                        devices_per_process=a.devices // a.processes)


def _join_processes(a) -> None:
    """In a launched process: join the others (bounded by ``--timeout``)."""
    from brainsim import sharding
    sharding.initialize(a.coordinator, a.processes, a.process_id, timeout=a.timeout)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="raster.png")
    p.add_argument("--live", nargs="?", const="", default=None, metavar="FILE",
                   help="draw the raster while it runs: a window, or FILE (.gif or .mp4)")
    p.add_argument("--refresh", type=float, default=10., help="ms between live frames")
    p.add_argument("--threads", type=int, default=0,
                   help="threads of each compiled program (brainsim.environ.set_cpu_threads); "
                        "0: XLA's default, the cores available")
    add_conn_flags(p)
    _scale_out_args(p)
    a = p.parse_args(argv)
    if a.threads < 0:
        p.error(f"--threads must be 0 (XLA's default) or a positive count, got {a.threads}")
    if a.threads:
        brainsim.environ.set_cpu_threads(a.threads)
    if a.processes > 1 and a.process_id is None:
        sys.exit(_launch_processes(argv, a))
    if a.process_id is not None:
        _join_processes(a)
    leader = a.process_id in (None, 0)
    live = None
    if a.live is not None:
        if a.devices > 1 or a.processes > 1:
            raise SystemExit("--live draws one process's network; use it without --devices "
                             "and --processes.")
        from brainsim import plot
        live = plot.LivePlot(refresh=a.refresh * u.ms, path=a.live or None)
    net, spikes = simulate(a.scale, a.duration * u.ms, a.seed, progress=not a.json and leader,
                           devices=a.devices, conn=a.conn, live=live)
    if live is not None:
        live.wait()
        if live.path and not a.json:
            print(f"live frames written to {live.path}")
    if a.json:
        if leader:
            print(json_summary(spikes, a.devices, a.processes))
        return spikes
    start = min(500., a.duration / 2) * u.ms
    exc = np.arange(net.n_exc)
    inh = np.arange(net.n_exc, net.n_exc + net.n_inh)
    r_e = float(spikes.mean_rate(start, exc).to_decimal(u.Hz))
    r_i = float(spikes.mean_rate(start, inh).to_decimal(u.Hz))
    if not leader:
        return r_e, r_i
    print(f"E rate: {r_e:.2f} Hz   I rate: {r_i:.2f} Hz   (after {start})")
    if a.out:
        from brainsim import plot
        # All 4,000 rows at 20 Hz would be a solid block: show 400 E and 100 I neurons.
        shown = min(400, net.n_exc), min(100, net.n_inh)
        keep = (spikes.i < shown[0]) | ((spikes.i >= net.n_exc) & (spikes.i < net.n_exc + shown[1]))
        row = np.where(spikes.i < net.n_exc, spikes.i, spikes.i - net.n_exc + shown[0])
        plot.raster(spikes.t[keep], row[keep], path=a.out, markersize=1.5,
                    title=f"COBA-LIF, {net.n_exc + net.n_inh} neurons "
                          f"({shown[0]} E below, {shown[1]} I above)")
        print(f"raster written to {a.out}")
    return r_e, r_i


if __name__ == "__main__":
    main()
