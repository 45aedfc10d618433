"""Peak memory of a long V trace streamed to HDF5: the 4000-neuron COBA network, V of every
neuron at every step, for 60 s of simulated time (600000 steps, a 9.6 GB record).

    /usr/bin/time -v python benchmarks/stream_trace.py [--duration 60] [--scale 1]
        [--path /tmp/brainsim_v.h5] [--keep] [--json]

Kept in memory this record would need 9.6 GB (the runner refuses it where that is not
available); streamed, the run goes in chunks of ~64 MB, each written out after one host
transfer. Prints the record size, the file size, the wall time and the peak resident memory
of this process (``ru_maxrss``, the figure ``/usr/bin/time -v`` reports as "Maximum resident
set size").
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples"))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=60., help="simulated seconds")
    p.add_argument("--scale", type=float, default=1.)
    p.add_argument("--path", default="/tmp/brainsim_stream_v.h5")
    p.add_argument("--keep", action="store_true", help="keep the HDF5 file")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    import brainunit as u
    import h5py
    import jax
    import brainsim
    from brainsim.runner import Runner, SpikeMonitor, StateMonitor
    from ei_coba_lif import EINet

    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(0)
    net = brainsim.init_states(EINet(a.scale, 0))
    jax.block_until_ready(net.neu.V.value)
    rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    r = Runner(net, progress=False, monitors={"V": StateMonitor(net.neu.V, path=a.path),
                                              "spikes": SpikeMonitor(net.neu)})
    t0 = time.perf_counter()
    res = r.run(a.duration * u.second)
    wall = time.perf_counter() - t0
    with h5py.File(a.path) as f:
        samples, n = f["values"].shape
        record_gb = f["values"].size * f["values"].dtype.itemsize / 1e9
    file_gb = os.path.getsize(a.path) / 1e9
    if not a.keep:
        os.remove(a.path)
    out = dict(neurons=int(n), steps=int(samples), duration_s=a.duration,
               record_gb=round(record_gb, 3), file_gb=round(file_gb, 3), wall_s=round(wall, 1),
               rate_hz=round(float(res["spikes"].mean_rate().to_decimal(u.Hz)), 2),
               peak_rss_gib=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 3),
               rss_before_run_gib=round(rss_built, 3), backend=jax.default_backend())
    if a.json:
        print(json.dumps(out))
    else:
        w = max(map(len, out))
        for k, v in out.items():
            print(f"{k:<{w}}  {v}")
        print(json.dumps(out))


if __name__ == "__main__":
    main()
