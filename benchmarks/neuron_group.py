"""NeuronGroup cost: COBA written with model strings against the built-in neurons.LIFRef.

    python benchmarks/neuron_group.py [--scale 1] [--duration 1000] [--repeats 3] [--json]

Both networks have 4000 * scale neurons (80 % excitatory), the same random connectivity
(p = 0.02), exponential conductances (5 and 10 ms), a 200 pA drive and 5 ms refractoriness;
both are integrated with exponential Euler at dt = 0.1 ms and record their spikes. The
built-in network is examples/ei_coba_lif.py (LIFRef + AlignPostProj(Expon, COBA)); the string
network writes the same model as Brian would, with DeltaProj(target='ge'/'gi') from subgroups.
Each is compiled once, then timed ``--repeats`` times, alternating; the table gives the best
wall and process CPU time per simulated second (CPU time is the steadier of the two on a
shared machine), the mean rates of the last run, and the median over the repeats of the
ratio measured within one repeat (both networks back to back).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import brainunit as u  # noqa: E402

import brainsim  # noqa: E402
from brainsim import event, projections  # noqa: E402
from brainsim.runner import Runner, SpikeMonitor  # noqa: E402

EQS = """
dv/dt = (gl * (El - v) + ge * (Ee - v) + gi * (Ei - v) + I) / C : volt (unless refractory)
dge/dt = -ge / taue : siemens
dgi/dt = -gi / taui : siemens
"""
NS = dict(gl=10. * u.nS, C=200. * u.pF, El=-60. * u.mV, Ee=0. * u.mV, Ei=-80. * u.mV,
          taue=5. * u.ms, taui=10. * u.ms, I=200. * u.pA, Vt=-50. * u.mV, Vr=-60. * u.mV)


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class StringCOBA(brainsim.DynamicsModule):
    def __init__(self, scale: float = 1.0, seed: int = 0):
        n_e, n_i = int(3200 * scale), int(800 * scale)
        n = n_e + n_i
        super().__init__(n)
        self.n_exc = n_e
        self.neu = brainsim.NeuronGroup(n, EQS, threshold="v > Vt", reset="v = Vr",
                                        refractory=5. * u.ms, method="exponential_euler",
                                        namespace=NS)
        self.neu.v = brainsim.init.Normal(-55. * u.mV, 2. * u.mV)((n,))
        W_e = event.random_conn(n_e, n, prob=0.02, seed=seed, weight=6. / scale * u.nS)
        W_i = event.random_conn(n_i, n, prob=0.02, seed=seed + 1, weight=67. / scale * u.nS)
        self.exc = projections.DeltaProj(W_e, pre=self.neu[:n_e], post=self.neu, target="ge")
        self.inh = projections.DeltaProj(W_i, pre=self.neu[n_e:], post=self.neu, target="gi")

    def update(self):
        self.exc()
        self.inh()
        return self.neu()


def _timed(runner, duration):
    t0, c0 = time.perf_counter(), time.process_time()
    rec = runner.run(duration)["spikes"]
    return time.perf_counter() - t0, time.process_time() - c0, rec


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--duration", type=float, default=1000., help="ms")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(a.seed)
    nets = {"LIFRef (built-in)": _load("ei_coba_lif").EINet(a.scale, a.seed),
            "NeuronGroup (strings)": StringCOBA(a.scale, a.seed)}
    runners, best, cpu, rates, pairs = {}, {}, {}, {}, []
    dur = a.duration * u.ms
    for name, net in nets.items():
        brainsim.init_states(net)
        runners[name] = Runner(net, monitors={"spikes": SpikeMonitor(net.neu)}, progress=False)
        _timed(runners[name], dur)                        # compile
    for _ in range(a.repeats):
        this = {}
        for name, r in runners.items():
            wall, c, rec = _timed(r, dur)
            this[name] = (wall, c)
            best[name] = min(best.get(name, float("inf")), wall / (a.duration / 1e3))
            cpu[name] = min(cpu.get(name, float("inf")), c / (a.duration / 1e3))
            rates[name] = float(rec.mean_rate().to_decimal(u.Hz))
        # the ratio within one repeat: both ran back to back under the same load
        pairs.append([this["NeuronGroup (strings)"][i] / this["LIFRef (built-in)"][i]
                      for i in (0, 1)])
    med_wall = statistics.median(p[0] for p in pairs)
    med_cpu = statistics.median(p[1] for p in pairs)
    ref, cref = best["LIFRef (built-in)"], cpu["LIFRef (built-in)"]
    print(f"COBA, {4000 * a.scale:.0f} neurons, {a.duration:.0f} ms, best of {a.repeats}")
    print(f"{'model':24s} {'wall s/sim s':>12s} {'ratio':>6s} {'CPU s/sim s':>12s} {'ratio':>6s} "
          f"{'rate (Hz)':>10s}")
    for name in nets:
        print(f"{name:24s} {best[name]:12.4f} {best[name] / ref:6.3f} {cpu[name]:12.4f} "
              f"{cpu[name] / cref:6.3f} {rates[name]:10.2f}")
    print(f"median over the {a.repeats} repeats of the ratio within a repeat: wall "
          f"{med_wall:.3f}, CPU {med_cpu:.3f}")
    out = {"benchmark": "neuron_group", "scale": a.scale, "duration_ms": a.duration,
           "wall_s_per_sim_s": best, "cpu_s_per_sim_s": cpu,
           "ratio_wall": best["NeuronGroup (strings)"] / ref,
           "ratio_cpu": cpu["NeuronGroup (strings)"] / cref, "rate_hz": rates,
           "median_ratio_wall": med_wall, "median_ratio_cpu": med_cpu}
    if a.json:
        print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
