"""plot.LivePlot: one frame per refresh, the same records as a run without it, clear errors."""
import os

import brainunit as u
import numpy as np
import pytest
from PIL import Image

import brainsim
from brainsim import neurons, plot, runner
from brainsim.plot import _live, _live_proc, _live_render


class _Net(brainsim.DynamicsModule):
    """Poisson drive into LIF neurons: random draws make a chunked run's equality meaningful."""

    def __init__(self):
        super().__init__(30)
        self.inp = neurons.PoissonSpike(30, 400. * u.Hz)
        self.lif = neurons.LIF(30, tau=10. * u.ms)

    def update(self):
        return self.lif(self.inp() * 750. * u.mV)


def _run(duration, live=None, every=3):
    brainsim.environ.set(dt=0.1 * u.ms)
    brainsim.random.seed(3)
    net = brainsim.init_states(_Net())
    mons = {"spk": runner.SpikeMonitor(net.lif), "V": runner.StateMonitor(net.lif.V, [0, 5]),
            "Vd": runner.StateMonitor(net.lif.V, [1], every=every),
            "rate": runner.RateMonitor(net.lif)}
    return brainsim.run(net, duration, monitors=mons, progress=False, live=live)


@pytest.mark.parametrize("duration,refresh,frames", [
    (20. * u.ms, 5. * u.ms, 4),      # refresh divides the run
    (22. * u.ms, 5. * u.ms, 5),      # a last, shorter chunk still gets its frame
    (3. * u.ms, 5. * u.ms, 1),       # a run shorter than refresh: one frame
])
def test_one_frame_per_refresh_in_the_gif(tmp_path, duration, refresh, frames):
    path = tmp_path / "run.gif"
    live = plot.LivePlot(refresh=refresh, path=path)
    _run(duration, live)
    live.wait()
    assert live.frames == frames and live.path == str(path)
    with Image.open(path) as im:
        assert im.n_frames == frames


def _frames(path):
    with Image.open(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB")))
    return out


def test_the_render_process_draws_the_same_frames_as_drawing_in_process(tmp_path):
    a, b = tmp_path / "proc.gif", tmp_path / "here.gif"
    live = plot.LivePlot(refresh=4. * u.ms, path=a)
    _run(20. * u.ms, live)
    here = plot.LivePlot(refresh=4. * u.ms, path=b, process=False)
    _run(20. * u.ms, here)
    live.wait()
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) == 5
    for x, y in zip(fa, fb):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(fa[0], fa[-1])       # the frames do change as the run goes on
    # the process is reused by the next run of the same LivePlot, and rewrites its file
    _run(8. * u.ms, live)
    live.wait()
    assert len(_frames(a)) == 2


def test_the_render_process_ends_with_its_liveplot_and_finishes_the_file_first(tmp_path):
    import gc
    path = tmp_path / "gone.gif"
    live = plot.LivePlot(refresh=5. * u.ms, path=path)
    _run(20. * u.ms, live)
    proc = live._proc._proc
    del live
    gc.collect()
    assert proc.wait(timeout=120) == 0
    with Image.open(path) as im:
        assert im.n_frames == 4


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_frames_for_a_file_are_drawn_on_idle_cpu_time_only(tmp_path):
    # started with the LivePlot, before any run: its imports overlap with the build
    live = plot.LivePlot(refresh=5. * u.ms, path=tmp_path / "a.gif")
    pid = live._proc._proc.pid
    _run(10. * u.ms, live)
    live.wait()          # the process has answered, so it set its policy long before
    assert os.sched_getscheduler(pid) == os.SCHED_IDLE


def test_messages_to_the_render_process_round_trip_without_pickle():
    arrays = [np.arange(5, dtype=np.float64), np.zeros((0,), np.int32),
              np.arange(6, dtype=np.float32).reshape(3, 2)]
    kind, meta, got = _live_proc.decode(_live_proc.encode("frame", {"names": ["a"]}, arrays))
    assert kind == "frame" and meta == {"names": ["a"]}
    for x, y in zip(arrays, got):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)


def test_a_failure_in_the_render_process_is_raised_by_wait(tmp_path):
    live = plot.LivePlot(refresh=5. * u.ms, path=tmp_path / "missing" / "dir" / "a.gif")
    _run(10. * u.ms, live)
    with pytest.raises(RuntimeError, match="drawing failed in the render process"):
        live.wait()


def test_records_are_the_same_with_and_without_live_plotting(tmp_path):
    ref = _run(22. * u.ms)
    got = _run(22. * u.ms, plot.LivePlot(refresh=2. * u.ms, path=tmp_path / "x.gif"))
    assert ref["spk"].count > 0
    np.testing.assert_array_equal(got["spk"].i, ref["spk"].i)
    np.testing.assert_array_equal(got["spk"].t.to_decimal(u.ms), ref["spk"].t.to_decimal(u.ms))
    for k in ("V", "Vd"):
        np.testing.assert_array_equal(got[k].values.to_decimal(u.mV),
                                      ref[k].values.to_decimal(u.mV))
        np.testing.assert_array_equal(got[k].t.to_decimal(u.ms), ref[k].t.to_decimal(u.ms))
    np.testing.assert_array_equal(got["rate"].rate.to_decimal(u.Hz),
                                  ref["rate"].rate.to_decimal(u.Hz))


def test_the_raster_holds_every_spike_and_the_traces_every_sample(tmp_path):
    live = plot.LivePlot(refresh=4. * u.ms, path=tmp_path / "r.gif", process=False)
    res = _run(20. * u.ms, live)       # Vd: one sample in 3 steps, not aligned with chunks
    t, i = live._panels["spk"].whole[0].get_data()
    np.testing.assert_array_equal(i, res["spk"].i)
    np.testing.assert_array_equal(t, res["spk"].t.to_decimal(u.ms))
    for name, values, unit in (("V", res["V"].values, u.mV), ("Vd", res["Vd"].values, u.mV),
                               ("rate", res["rate"].rate[:, None], u.Hz)):
        for k, line in enumerate(live._panels[name].whole):
            np.testing.assert_array_equal(line.get_xdata(), res[name].t.to_decimal(u.ms))
            np.testing.assert_allclose(line.get_ydata(), values[:, k].to_decimal(unit),
                                       rtol=1e-6)
    # the y-range was widened to hold every sample
    lo, hi = live._panels["V"].ax.get_ylim()
    v = res["V"].values.to_decimal(u.mV)
    assert lo <= v.min() and v.max() <= hi


def test_a_window_is_updated_when_a_gui_backend_is_in_use(monkeypatch):
    import matplotlib.pyplot as plt
    monkeypatch.setattr(_live, "_interactive", lambda: True)
    monkeypatch.setattr(plt, "show", lambda **kw: None)
    live = plot.LivePlot(refresh=5. * u.ms, process=False)
    _run(10. * u.ms, live)
    assert live.frames == 2 and live.path is None
    plt.close("all")


def test_headless_without_a_path_writes_a_gif_in_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    live = plot.LivePlot(refresh=5. * u.ms)
    _run(10. * u.ms, live)
    live.wait()
    assert live.path == "brainsim_live.gif" and (tmp_path / "brainsim_live.gif").exists()


@pytest.mark.parametrize("kwargs,match", [
    (dict(refresh=10.), "refresh must be a time such as 10. \\* u.ms"),
    (dict(path="out.png"), "must end in .gif"),
    (dict(path=3), "path must be a file name"),
    (dict(max_traces=0), "max_traces must be a positive int"),
    (dict(process="yes"), "process must be True or False"),
])
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        plot.LivePlot(**kwargs)


def test_refresh_must_be_whole_steps_and_monitors_must_exist(tmp_path):
    with pytest.raises(ValueError, match=r"LivePlot: refresh=.* is not a whole number of time "
                                         r"steps .* refresh=0.2 ms or refresh=0.3 ms"):
        _run(5. * u.ms, plot.LivePlot(refresh=0.25 * u.ms, path=tmp_path / "a.gif"))
    with pytest.raises(ValueError, match=r"monitors \['spikes'\] are not monitors of this run"):
        _run(5. * u.ms, plot.LivePlot(monitors=["spikes"], path=tmp_path / "a.gif"))
    brainsim.environ.set(dt=0.1 * u.ms)
    lif = brainsim.init_states(neurons.LIF(3))
    with pytest.raises(ValueError, match="no SpikeMonitor, StateMonitor or RateMonitor"):
        brainsim.run(lif, 1. * u.ms, progress=False, live=plot.LivePlot(path=tmp_path / "a.gif"))
    with pytest.raises(TypeError, match="live must be a brainsim.plot.LivePlot"):
        runner.Runner(lif, live="yes")


def test_mp4_without_ffmpeg_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setattr(_live_render.animation.writers, "is_available", lambda name: False)
    with pytest.raises(ValueError, match="needs ffmpeg on the PATH"):
        _run(5. * u.ms, plot.LivePlot(path=tmp_path / "a.mp4"))
