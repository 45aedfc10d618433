"""Plots return figures with the data drawn and write PNG files."""
import brainunit as u
import numpy as np
import pytest
from matplotlib.figure import Figure

from brainsim import plot


def test_raster_draws_every_spike_and_saves_png(tmp_path):
    t = np.array([1., 2., 5.]) * u.ms
    i = np.array([0, 3, 1])
    path = tmp_path / "r.png"
    fig = plot.raster(t, i, path=path, title="x")
    assert isinstance(fig, Figure)
    x, y = fig.axes[0].lines[0].get_data()
    np.testing.assert_array_equal(x, [1., 2., 5.])
    np.testing.assert_array_equal(y, [0, 3, 1])
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="one index per spike"):
        plot.raster(t, i[:2])


def test_traces_and_rate(tmp_path):
    t = np.arange(5.) * u.ms
    v = np.arange(10.).reshape(5, 2) * u.mV
    fig = plot.traces(t, v, path=tmp_path / "t.png")
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [1., 3., 5., 7., 9.])
    fig = plot.rate(t, np.array([0., 10., 0., 10., 0.]) * u.Hz, smooth=2. * u.ms,
                    path=tmp_path / "rate.png")
    y = fig.axes[0].lines[0].get_ydata()
    np.testing.assert_allclose(y, np.convolve([0., 10., 0., 10., 0.], [.5, .5], mode="same"))
    assert (tmp_path / "rate.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="one row of values per time"):
        plot.traces(t, np.zeros((4, 2)))


def _trace_and_rate():
    from brainsim.runner import Rate, SpikeRecord, Trace
    t = np.arange(4.) * u.ms
    tr = Trace(t, np.arange(8.).reshape(4, 2) * u.mV)
    rt = Rate(t, np.array([0., 5., 10., 5.]) * u.Hz)
    sp = SpikeRecord(i=np.array([2, 0]), t=np.array([1., 3.]) * u.ms, n=3, run_t=t,
                     steps=np.array([1, 3]))
    return t, tr, rt, sp


@pytest.mark.parametrize("kind", ["raster", "traces", "rate"])
def test_every_plot_draws_into_the_given_axes(kind, tmp_path):
    t, tr, rt, sp = _trace_and_rate()
    fig, axes = plot.figure(3, 1)
    ax = axes[1, 0]
    call = {"raster": lambda **k: plot.raster(sp, **k), "traces": lambda **k: plot.traces(tr, **k),
            "rate": lambda **k: plot.rate(rt, **k)}[kind]
    out = call(ax=ax, title=kind, path=tmp_path / "p.png")
    assert out is ax
    assert len(ax.lines) > 0 and ax.get_title() == kind
    assert all(len(a.lines) == 0 for a in (axes[0, 0], axes[2, 0]))   # nothing drawn elsewhere
    assert len(fig.axes) == 3                                          # no panel added
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(TypeError, match="ax must be a matplotlib Axes"):
        call(ax=fig)
    assert isinstance(call(), Figure)                                  # without ax: a new figure


def test_traces_takes_a_trace_next_to_its_times():
    t, tr, rt, _ = _trace_and_rate()
    fig = plot.traces(t, tr)          # was an IndexError: the Trace was read as an array
    np.testing.assert_array_equal(fig.axes[0].lines[1].get_ydata(), [1., 3., 5., 7.])
    assert fig.axes[0].get_ylabel() == "mV"
    fig = plot.rate(t, rt)
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), [0., 5., 10., 5.])
    with pytest.raises(ValueError, match="one row of values per time"):
        plot.traces(t[:3], tr)
    with pytest.raises(TypeError, match="give a Trace"):
        plot.traces(t)
    with pytest.raises(TypeError, match="give a SpikeRecord"):
        plot.raster(t)


def test_figure_lays_out_panels():
    fig, axes = plot.figure(2, 3, figsize=(6, 4))
    assert axes.shape == (2, 3) and len(fig.axes) == 6
    assert tuple(fig.get_size_inches()) == (6., 4.)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="rows must be a positive integer"):
            plot.figure(bad, 1)


def test_shared_time_axis_is_labelled_once():
    t, tr, rt, sp = _trace_and_rate()
    fig, axes = plot.figure(2, 1)
    plot.raster(sp, ax=axes[0, 0])
    plot.traces(tr, ax=axes[1, 0])
    assert axes[0, 0].get_xlabel() == "" and axes[1, 0].get_xlabel() == "time (ms)"
    fig, axes = plot.figure(2, 1, sharex=False)
    plot.raster(sp, ax=axes[0, 0])
    assert axes[0, 0].get_xlabel() == "time (ms)"


def test_figures_show_themselves_in_notebooks():
    # built without pyplot, so no inline backend registers a display for them
    t, tr, rt, sp = _trace_and_rate()
    for fig in (plot.raster(sp), plot.traces(tr), plot.rate(rt), plot.figure(2, 2)[0]):
        assert isinstance(fig, Figure)
        assert fig._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
