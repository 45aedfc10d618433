"""The 29-area macaque spiking model (Joglekar et al. 2018) built from brainsim parts.

Each area is an E/I network of ``LIFRef`` neurons (E: tau 20 ms, I: tau 10 ms; V_rest -70 mV,
threshold -50 mV, reset -60 mV, 2 ms refractory), connected with p = 0.1 inside the area. Between
areas, E -> E projections connect with probability FLN[i, j] (from area j to area i) and a delay of
distance / 3.5 m/s (rounded to dt). Every synapse is an exponential current (``Expon`` + ``CUBA``):
tau 2 ms for excitation, 5 ms for inhibition. The weights grow along the hierarchy,
``(1 + alpha h_i)`` with ``h`` normalised to [0, 1] (the gradient of excitation of the paper).
Each neuron gets a constant drive and white noise (its membrane std ``sigma``).

Weights are given as the area under the PSP: a weight ``J`` (mV) moves V by ``J`` in total, so
the ``Expon`` jump is ``J tau_m / tau_syn``. They scale as 1 / n_E (reference size 1,600 E).

``merge=True`` lets every projection onto one population share the synapse state of its receptor
(AlignPost sharing: 29 areas x 2 populations x 2 receptors = 116 states); ``merge=False`` gives
every projection its own (116 + one per nonzero FLN entry).

``shared_delays=True`` (the default) keeps one spike history per E population
(``projections.SpikeHistory``, as long as its longest outgoing delay), read by each of its
inter-areal projections at its own delay: 29 buffers. ``False`` gives every delayed projection
its own ring buffer (``delay=``): 536 buffers holding copies of the same spikes. Both give the
same spikes.
"""
from __future__ import annotations

from pathlib import Path

import brainunit as u

import numpy as np

import brainsim
from brainsim import event, init, neurons, projections, synapses

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "macaque-29-areas"

# the delta-synapse version of the model (BrainPy's multi-area example): PSP sizes in mV
PARAMS = dict(wEE=0.01, wIE=0.075, wEI=0.0375, wII=0.075, muEE=0.0375, alpha=4.,
              extE=14.2, extI=14.7, sigma=2.1, tau_e=2., tau_i=5., p_local=0.1, speed=3.5,
              ref_ne=1600)


def data_dir() -> Path:
    """The data folder: ``shared/data/macaque-29-areas`` next to the checkout, or under /work."""
    for d in (DATA, Path("/work/shared/data/macaque-29-areas")):
        if (d / "fln.csv").exists():
            return d.resolve()
    raise FileNotFoundError(f"macaque-29-areas data not found in {DATA} or /work/shared/data")


def load_data(root: Path | None = None) -> dict:
    """Areas, FLN (to i from j), distances (mm) and hierarchy of the 29 areas."""
    root = Path(root) if root else data_dir()
    load = lambda f: np.loadtxt(root / f, delimiter=",")   # noqa: E731
    return dict(areas=(root / "areas.txt").read_text().split(), fln=load("fln.csv"),
                dist=load("distance_mm.csv"), hier=load("hierarchy.csv"))


class MultiArea(brainsim.DynamicsModule):
    """29 E/I areas and their inter-areal E -> E projections.

    ``update(pulse)`` adds ``pulse`` (mV, the drive R I) to the E neurons of area 0 (V1).
    """

    def __init__(self, data: dict, n_e: int = 1600, n_i: int = 400, merge: bool = True,
                 seed: int = 0, n_areas: int | None = None, params: dict | None = None,
                 shared_delays: bool = True):
        P = dict(PARAMS, **(params or {}))
        k = n_areas or len(data["areas"])
        super().__init__(k * (n_e + n_i))
        self.k, self.n_e, self.n_i, self.P = k, n_e, n_i, P
        fln, dist = data["fln"][:k, :k], data["dist"][:k, :k]
        hier = data["hier"][:k] / data["hier"].max()
        dt_ms = float(brainsim.environ.get_dt().to_decimal(u.ms))
        lif = dict(V_rest=-70. * u.mV, V_th=-50. * u.mV, V_reset=-60. * u.mV, tau_ref=2. * u.ms,
                   V_initializer=init.Uniform(-70. * u.mV, -50. * u.mV))
        self.E = [neurons.LIFRef(n_e, tau=20. * u.ms, **lif) for _ in range(k)]
        self.I = [neurons.LIFRef(n_i, tau=10. * u.ms, **lif) for _ in range(k)]
        scale = P["ref_ne"] / n_e
        te, ti = P["tau_e"], P["tau_i"]
        rng_seed = iter(range(seed * 100003, seed * 100003 + 10 ** 5))

        def proj(pre, post, n_pre, n_post, prob, J, tau_m, tau_s, delay=None):
            if shared_delays and delay is not None:
                pre, delay = self.history[self.E.index(pre)].at(delay), None
            W = event.random_conn(n_pre, n_post, prob=prob, seed=next(rng_seed),
                                  weight=np.float32(J * scale * tau_m / tau_s) * u.mV)
            return projections.AlignPostProj(
                W, synapses.Expon(n_post, tau_s * u.ms), synapses.CUBA(), post=post, pre=pre,
                delay=delay, share=merge)

        p = P["p_local"]
        local, inter = [], []
        for a in range(k):
            g = 1. + P["alpha"] * hier[a]
            E, I = self.E[a], self.I[a]
            local += [proj(E, E, n_e, n_e, p, g * P["wEE"], 20., te),
                      proj(E, I, n_e, n_i, p, g * P["wIE"], 10., te),
                      proj(I, E, n_i, n_e, p, -P["wEI"], 20., ti),
                      proj(I, I, n_i, n_i, p, -P["wII"], 10., ti)]
        steps = np.maximum(1, np.round(dist / P["speed"] / dt_ms)).astype(int)
        inter_pairs = [(a, b) for a in range(k) for b in range(k) if a != b and fln[a, b] > 0]
        # one spike history per E population, as long as its longest outgoing delay
        self.history = [projections.SpikeHistory(
            self.E[b], max([steps[a, b] for a, bb in inter_pairs if bb == b], default=0)
            * dt_ms * u.ms) for b in range(k)] if shared_delays else []
        for a, b in inter_pairs:      # post, pre
            # the FLN-weighted drive of the delta model (p = 0.1, weight FLN muEE) with
            # connection probability FLN instead: the same mean input
            inter.append(proj(self.E[b], self.E[a], n_e, n_e, min(1., fln[a, b]),
                              (1. + P["alpha"] * hier[a]) * P["muEE"] * p, 20., te,
                              delay=steps[a, b] * dt_ms * u.ms))
        self.local, self.inter = local, inter
        self.inter_pairs = inter_pairs          # (post area, pre area) of each of self.inter
        self.delays_ms = {(a, b): steps[a, b] * dt_ms for a, b in inter_pairs}

    def update(self, pulse=0. * u.mV):
        for h in self.history:        # last step's spikes, before the projections read them
            h()
        for pr in self.local:
            pr()
        for pr in self.inter:
            pr()
        P = self.P
        for a in range(self.k):
            for pop, ext, tau in ((self.E[a], P["extE"], 20.), (self.I[a], P["extI"], 10.)):
                noise = brainsim.random.normal(0., P["sigma"] * np.sqrt(2. * tau / self._dt_ms()),
                                               pop.varshape)
                drive = (ext + noise) * u.mV
                if pop is self.E[0]:
                    drive = drive + pulse
                pop(drive)
        return None

    @staticmethod
    def _dt_ms() -> float:
        return float(brainsim.environ.get_dt().to_decimal(u.ms))


def synapse_states(net) -> dict:
    """The synapse states of ``net`` (paths ending in ``.g``): count and bytes."""
    gs = {k: v for k, v in net.states().items() if k.endswith(".g")}
    nbytes = sum(int(np.prod(np.shape(u.get_mantissa(v.value)))) * 4 for v in gs.values())
    return dict(count=len(gs), bytes=nbytes)


def state_bytes(net) -> int:
    """Bytes of every state of ``net`` (delay buffers included)."""
    return int(sum(np.asarray(u.get_mantissa(v.value)).nbytes for v in net.states().values()))


def rank_corr(x, y) -> float:
    """Spearman's rank correlation (average ranks for ties)."""
    def ranks(v):
        v = np.asarray(v, float)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=float)
        for val in np.unique(v):
            m = v == val
            r[m] = r[m].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


__all__ = ["MultiArea", "load_data", "synapse_states", "state_bytes", "rank_corr", "PARAMS"]

