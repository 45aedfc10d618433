"""paper_experiments/decision_making: the Poisson sampler, the group-sum recurrent input
against a dense all-to-all weight matrix, and the script's tiny --smoke run."""

import math
import sys
from pathlib import Path

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from _paper_run import load_module

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "decision_making"




model = load_module("decision_making", "dm_model")


def test_poisson_counts_match_the_pmf():
    brainsim.random.seed(3)
    lam = 0.2448                                   # (2400 + 48) Hz x 0.1 ms
    n = 200_000
    k = np.asarray(model.poisson_counts(jnp.full(n, lam), n))
    for j in range(4):
        pmf = math.exp(-lam) * lam ** j / math.factorial(j)
        se = math.sqrt(pmf * (1 - pmf) / n)
        assert abs((k == j).mean() - pmf) < 5 * se + 1e-5, j
    assert abs(k.mean() - lam) < 5 * math.sqrt(lam / n)


def test_recurrent_conductances_equal_a_dense_all_to_all_product():
    """The group sums times the 3x3 weights give what an N_E x N_E matrix of per-pair
    weights gives from per-neuron gating values (the delayed entry of the buffer)."""
    with brainsim.environ.context(dt=0.1 * u.ms):
        net = brainsim.init_states(model.DecisionNet(scale=0.05))
        rng = np.random.default_rng(0)
        s_ampa, s_nmda = rng.uniform(0, 1, net.n_e), rng.uniform(0, 1, net.n_e)
        s_gaba = rng.uniform(0, 1, net.n_i)
        grp = np.asarray(net.group)
        sums = [s_ampa[grp == k].sum() for k in range(3)] + \
               [s_nmda[grp == k].sum() for k in range(3)] + [s_gaba.sum()]
        buf = np.zeros(net.buffer.value.shape, np.float32)
        buf[0] = sums
        net.buffer.value = jnp.asarray(buf)
        brainsim.jit(net.update)(0., 0.)
        cond_e, cond_i = np.asarray(net.cond_e.value), np.asarray(net.cond_i.value)
    w_pos, f = 1.7, 0.15
    w_neg = 1 - f * (w_pos - 1) / (1 - f)
    dense = np.ones((net.n_e, net.n_e))            # dense[pre, post]
    for j in range(net.n_e):
        for i in range(net.n_e):
            if grp[i] < 2:                           # into a selective group
                dense[j, i] = w_pos if grp[j] == grp[i] else w_neg
    sc = net.scale
    np.testing.assert_allclose(cond_e[:, 1], 0.05 / sc * (s_ampa @ dense), rtol=1e-5)
    np.testing.assert_allclose(cond_e[:, 2], 0.165 / sc * (s_nmda @ dense), rtol=1e-5)
    np.testing.assert_allclose(cond_e[:, 3], 1.3 / sc * s_gaba.sum(), rtol=1e-5)
    np.testing.assert_allclose(cond_i[:, 1], 0.04 / sc * s_ampa.sum(), rtol=1e-5)
    np.testing.assert_allclose(cond_i[:, 2], 0.13 / sc * s_nmda.sum(), rtol=1e-5)
    np.testing.assert_allclose(cond_i[:, 3], 1.0 / sc * s_gaba.sum(), rtol=1e-5)


def test_smoke_run_json_and_rising_psychometric_curve(tmp_path):
    run = load_module("decision_making", "run")
    res = run.main(["--smoke", "--json", "--out", str(tmp_path)])
    for key in ("coherence", "p_choose_a", "trials", "mean_rt_ms"):
        assert len(res[key]) == 3, key
    assert res["coherence"] == [-51.2, 0.0, 51.2]
    assert res["trials"] == [4, 4, 4]
    p = res["p_choose_a"]
    # c = -51.2 % favours B, +51.2 % favours A (zero coherence is a coin flip over 4 trials)
    assert p[0] <= 0.34 and p[2] >= 0.66 and p[2] - p[0] >= 0.5, p
    assert any(v is not None and 100 < v < 800 for v in res["mean_rt_ms"])
    assert Path(res["png"]).is_file()


@pytest.mark.slow
def test_lanes_sharded_over_two_host_devices_give_the_same_trials(tmp_path):
    """--smoke with 2 trials (6 lanes) on 1 and on 2 forced host devices: with mesh= the
    lanes draw the same random numbers, so the choices and RTs agree."""
    import json
    import os
    import subprocess
    out = []
    for n_dev in (1, 2):
        env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={n_dev}")
        proc = subprocess.run([sys.executable, str(HERE / "run.py"), "--smoke", "--trials", "2",
                               "--json", "--out", str(tmp_path)],
                              env=env, capture_output=True, text=True, timeout=600, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert [o["devices"] for o in out] == [1, 2]
    for key in ("p_choose_a", "mean_rt_ms", "no_crossing"):
        assert out[0][key] == out[1][key], key
