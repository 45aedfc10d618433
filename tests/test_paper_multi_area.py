"""paper_experiments/multi_area: the 29-area model's projections, synapse merging, delays and
rank correlation, and the script's --smoke run (slow: it compiles the model twice)."""

import json
import subprocess
import sys
from pathlib import Path

import brainunit as u
import numpy as np
import pytest

import brainsim
from _paper_run import load_module
from conftest import shared_data_dir

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "multi_area"




model = load_module("multi_area", "ma_model")


def test_merging_gives_one_state_per_population_and_receptor_and_delays_follow_distance():
    data = model.load_data(shared_data_dir("macaque-29-areas"))
    assert len(data["areas"]) == 29 and data["areas"][0] == "V1"
    k = 5
    brainsim.environ.set(dt=0.1 * u.ms)
    fln = data["fln"][:k, :k]
    n_inter = int(np.sum((fln > 0) & ~np.eye(k, dtype=bool)))
    nets = {m: brainsim.init_states(model.MultiArea(data, 16, 4, merge=m, n_areas=k))
            for m in (True, False)}
    assert model.synapse_states(nets[True])["count"] == 4 * k
    assert model.synapse_states(nets[False])["count"] == 4 * k + n_inter
    net = nets[True]
    assert len(net.inter) == n_inter
    for (post, pre), d in net.delays_ms.items():
        assert fln[post, pre] > 0
        assert d == pytest.approx(max(0.1, round(data["dist"][post, pre] / 3.5 / 0.1) * 0.1))
    # every inter-areal projection goes E(pre area) -> E(post area) with that delay: read from
    # the pre area's one spike history, or (shared_delays=False) through a buffer of its own
    own = brainsim.init_states(model.MultiArea(data, 16, 4, n_areas=k, shared_delays=False))
    assert len(net.history) == k and own.history == []
    for p, q, (a, b) in zip(net.inter, own.inter, net.inter_pairs):
        assert net.E.index(p.post) == a and p.pre.history is net.history[b]
        assert p.delay is None
        assert float(p.pre.delay.to_decimal(u.ms)) == pytest.approx(net.delays_ms[(a, b)])
        assert own.E.index(q.post) == a and own.E.index(q.pre) == b
        assert float(q.delay.delay.to_decimal(u.ms)) == pytest.approx(net.delays_ms[(a, b)])
        assert p.comm.shape == (16, 16)
    for b, h in enumerate(net.history):
        longest = max(d for (a, bb), d in net.delays_ms.items() if bb == b)
        assert float(h.max_delay.to_decimal(u.ms)) == pytest.approx(longest)


def test_one_spike_history_per_area_gives_the_spikes_of_a_buffer_per_projection():
    data = model.load_data(shared_data_dir("macaque-29-areas"))
    runs = []
    for shared in (True, False):
        brainsim.environ.set(dt=0.1 * u.ms)
        brainsim.random.seed(0)
        net = brainsim.init_states(model.MultiArea(data, 40, 10, n_areas=4,
                                                   shared_delays=shared))
        pulse = lambda t: 15. * u.mV        # noqa: E731
        res = brainsim.run(net, 30. * u.ms, inputs=pulse, progress=False,
                           monitors={f"E{a}": brainsim.runner.SpikeMonitor(net.E[a])
                                     for a in range(4)})
        runs.append([(np.asarray(res[f"E{a}"].steps), np.asarray(res[f"E{a}"].i))
                     for a in range(4)])
    assert sum(len(i) for _, i in runs[0]) > 0     # the areas spike (drive and V1's pulse)
    for (s1, i1), (s2, i2) in zip(*runs):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(i1, i2)


def test_rank_corr_matches_the_closed_form_without_ties_and_handles_ties():
    rng = np.random.default_rng(0)
    x, y = rng.permutation(12), rng.random(12)
    ry = np.argsort(np.argsort(y))
    d = x - ry
    expected = 1 - 6 * np.sum(d ** 2) / (12 * (12 ** 2 - 1))
    assert model.rank_corr(x, y) == pytest.approx(expected)
    # ties get average ranks: [1, 1, 2] ranks (0.5, 0.5, 2) against (0, 1, 2)
    r = np.array([0.5, 0.5, 2.]) - 1.
    assert model.rank_corr([1, 1, 2], [0, 1, 2]) == pytest.approx(
        float(r @ np.array([-1., 0., 1.]) / np.linalg.norm(r) / np.sqrt(2.)))


@pytest.mark.slow
def test_smoke_run_json_merged_equals_unmerged(tmp_path):
    shared_data_dir("macaque-29-areas")
    p = subprocess.run([sys.executable, str(HERE / "run.py"), "--smoke", "--json",
                        "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("areas", "merged_states", "unmerged_states", "hierarchy_latency_spearman",
                "latency_ms", "brainsim_compile_s", "brian2_compile_s"):
        assert key in res
    assert res["areas"] == 6 and len(res["latency_ms"]) == 6
    assert res["merged_states"] == 4 * 6 < res["unmerged_states"]
    assert res["same_spikes"] is True and sum(res["spikes_per_area"]) > 0
    assert res["brainsim_compile_s"] > 0
    assert res["brian2_compile_s"] is None and "skipped" in res["brian2_note"]


def test_onset_latency_is_the_first_bin_above_baseline():
    run = load_module("multi_area", "run")
    centres = np.arange(20) * 5. + 2.5                 # 5-ms bins, onset at 50 ms
    r = np.ones((3, 20))
    r[0, 12:] = 40.                                    # rises in the bin at 62.5 ms
    r[1, 16:] = 40.                                    # at 82.5 ms
    lat = run.onset_latencies(r, centres, 50.)
    # the 3-bin smoothing lifts the bin before the rise above threshold (1 + 39/3 > 6)
    assert lat[0] == pytest.approx(62.5 - 5. - 50.) and lat[1] == pytest.approx(82.5 - 5. - 50.)
    assert np.isnan(lat[2])                            # never rose
