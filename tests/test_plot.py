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
    with pytest.raises(ValueError, match="rows"):
        plot.traces(t, np.zeros((4, 2)))
