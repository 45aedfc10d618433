"""paper_experiments/working_memory: the networks' Dale's-law signs, the adaptation memory of
the spiking network, and the script's --smoke and --quick runs (both slow)."""

import json
import subprocess
import sys
from pathlib import Path

import brainunit as u
import jax.numpy as jnp
import numpy as np
import pytest

import brainsim
from _paper_run import load_module

HERE = Path(__file__).resolve().parents[1] / "paper_experiments" / "working_memory"




model = load_module("working_memory", "wm_model")


@pytest.mark.parametrize("make", [lambda: model.SpikingWM(24), lambda: model.RateWM(24)],
                         ids=["spiking", "rate"])
def test_recurrent_weights_obey_dale(make):
    net = make()
    W = np.asarray(net.rec.effective_weight())
    assert W.shape == (100, 100)
    assert (W[:80] >= 0).all() and (W[80:] <= 0).all()
    assert (W[:80] > 0).mean() > 0.9 and (W[80:] < 0).mean() > 0.9


def test_adaptation_current_holds_the_sample_through_the_delay():
    """Untrained: neurons that fired for the sample stay adapted (I2 < 0), so a matching test
    drives fewer spikes than a non-matching one; without the adaptation current it does not."""
    from brainsim import datasets
    with brainsim.environ.context(dt=10. * u.ms):
        task = datasets.DMS(dt=10. * u.ms, t_fixation=100. * u.ms, t_sample=300. * u.ms,
                            t_delay=500. * u.ms, t_test=300. * u.ms)
        trials = task.sample(128, seed=0)
        counts = {}
        for A2 in (-0.6, 0.):
            net = brainsim.init_states(model.SpikingWM(24, A2=A2, seed=0), 128)
            _, s, _ = brainsim.for_loop(net.update, jnp.asarray(trials.x))
            c = np.asarray(s)[task.phases["test"]].sum(axis=(0, 2))
            counts[A2] = (c[trials.labels == 1].mean(), c[trials.labels == 0].mean())
    match, non = counts[-0.6]
    assert match < 0.85 * non
    m0, n0 = counts[0.]
    assert abs(m0 - n0) < 0.1 * n0


def _run(*args, timeout):
    cmd = [sys.executable, str(HERE / "run.py"), *args, "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow      # about 28 s (two compilations in a subprocess): over the default budget
def test_smoke_run_prints_its_json(tmp_path):
    res = _run("--smoke", "--out", str(tmp_path), timeout=300)
    for k in ("spiking_test_acc", "rate_test_acc"):
        assert 0. <= res[k] <= 1.
    assert len(res["spiking_history"]) == res["epochs"]
    assert len(res["rate_history"]) == res["rate_epochs"]
    assert Path(res["png"]).is_file() and Path(res["png"]).stat().st_size > 10_000


@pytest.mark.slow
def test_quick_run_learns_the_task(tmp_path):
    res = _run("--quick", "--out", str(tmp_path), timeout=900)
    assert res["spiking_test_acc"] > 0.9
    assert res["rate_test_acc"] > 0.9
    assert res["spiking_initial_acc"] < 0.65 and res["rate_initial_acc"] < 0.65


_SMOKE_DT = 10.     # ms, the smoke preset's step


def _smoke_trainer(**trainer_kw):
    """A Trainer of the smoke preset's spiking network (call inside dt = _SMOKE_DT), a
    function returning its parameters, and one batch of 8 trials."""
    run = load_module("working_memory", "run")
    cfg = dict(run.PRESETS["smoke"])
    assert cfg["dt"] == _SMOKE_DT
    task = run.make_task(cfg, "spiking")
    net = model.SpikingWM(task.n_inputs, in_scale=cfg["in_scale"], seed=0)
    regs = {"fr": (2. * u.Hz, 0.1), "mem": (-2., 0.4, 0.01)}
    tr = run.Trainer(net, task, 1e-2, 8, regs, readout_lr=1e-2, **trainer_kw)
    params = lambda: {k: np.asarray(s.value) for k, s in net.states().items()  # noqa: E731
                      if isinstance(s, brainsim.ParamState)}
    trials = task.sample(8, seed=0)
    return tr, params, (jnp.asarray(trials.x), jnp.asarray(trials.labels))


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
def test_cosine_schedule_stops_the_updates_at_its_end(schedule):
    """With ``decay_steps=1`` the cosine rate is 0 from the second step on, so that step leaves
    every parameter where the first put it; at a constant rate the second step moves them."""
    with brainsim.environ.context(dt=_SMOKE_DT * u.ms):
        tr, params, (x, y) = _smoke_trainer(decay_steps=1 if schedule == "cosine" else None)
        before = params()
        tr.step(x, y)
        first = params()
        tr.step(x, y)
        second = params()
    moved = lambda a, b: max(float(np.abs(a[k] - b[k]).max()) for k in a)
    assert moved(before, first) > 1e-4                 # the first step learns in both
    if schedule == "cosine":
        assert moved(first, second) == 0.
    else:
        assert moved(first, second) > 1e-4


def test_exc_readout_sees_only_the_e_neurons():
    """readout="exc": the readout's weights are 80 x 2 and the I neurons' spikes do not reach
    it; a readout other than "all" or "exc" is refused with the two choices."""
    net = model.SpikingWM(24, readout="exc")
    assert net.r2o.weight.value.shape == (80, 2)
    assert model.SpikingWM(24).r2o.weight.value.shape == (100, 2)
    with pytest.raises(ValueError, match="'all'.*'exc'"):
        model.SpikingWM(24, readout="inh")


@pytest.mark.parametrize("decay", [None, 10])
def test_warmup_starts_the_rate_at_zero(decay):
    """With a warm-up the rate is 0 at the first step and reaches the peak at its end (then
    stays, or decays on the cosine); without one it is the constant rate."""
    run = load_module("working_memory", "run")
    sched = run._schedule(1e-2, decay_steps=decay, warmup_steps=4)
    assert float(sched(0)) == 0.
    assert float(sched(2)) == pytest.approx(5e-3)
    assert float(sched(4)) == pytest.approx(1e-2)
    if decay:
        assert float(sched(10)) == pytest.approx(0., abs=1e-9)
    else:
        assert float(sched(100)) == pytest.approx(1e-2)
    assert run._schedule(1e-2) == 1e-2


@pytest.mark.parametrize("clip", [None, 1e-12])
def test_clip_reaches_the_optimiser(clip):
    """Trainer(clip=c) clips the gradient's global norm before Adam: at c = 1e-12 the clipped
    gradient is far below Adam's eps (1e-8), so the first step barely moves the parameters;
    unclipped, Adam's first step moves some parameter by about the rate."""
    with brainsim.environ.context(dt=_SMOKE_DT * u.ms):
        tr, params, (x, y) = _smoke_trainer(clip=clip)
        before = params()
        tr.step(x, y)
        after = params()
    moved = max(float(np.abs(before[k] - after[k]).max()) for k in before)
    if clip:
        assert moved < 1e-5
    else:
        assert moved > 5e-3


def test_bad_warmup_and_clip_are_refused():
    """A negative warm-up, one as long as the cosine decay, and a clip norm <= 0 are refused
    with the argument's name."""
    run = load_module("working_memory", "run")
    with pytest.raises(ValueError, match="warmup_steps"):
        run._schedule(1e-2, warmup_steps=-1)
    with pytest.raises(ValueError, match="warmup_steps"):
        run._schedule(1e-2, decay_steps=10, warmup_steps=10)
    cfg = dict(run.PRESETS["smoke"])
    with brainsim.environ.context(dt=cfg["dt"] * u.ms):
        task = run.make_task(cfg, "spiking")
        net = model.SpikingWM(task.n_inputs, seed=0)
        with pytest.raises(ValueError, match="clip"):
            run.Trainer(net, task, 1e-2, 8, {}, clip=0.)
