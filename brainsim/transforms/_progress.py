"""A progress bar driven from inside compiled loops by sparse host callbacks."""

from __future__ import annotations

from typing import Any

import importlib.util

import numpy as np

__all__ = ["ProgressBar"]


def _tqdm() -> type:
    # tqdm.auto picks the notebook widget inside Jupyter, and warns ("IProgress not
    # found") on every bar when ipywidgets is missing: use the text bar then.
    if importlib.util.find_spec("ipywidgets") is None:
        from tqdm.std import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm


class ProgressBar:
    """Shows how many steps of a compiled loop have run.

    The loop calls :meth:`update` with its step index a few dozen times per
    run. A count that goes backwards means the compiled loop was called
    again, so a fresh bar starts.


    Parameters
    ----------
    total : int
        The number of steps the bar counts to.
    start : int
        The loop index of the first iteration.
    desc : str
        The label in front of the bar.
    scale : int
        Steps per loop iteration, for a loop whose body runs several steps
        (e.g. a runner that nests an inner loop of ``scale`` steps).

    Examples
    --------
    Pass one to :func:`brainsim.for_loop` to count 100 steps per iteration:

    >>> import brainsim
    >>> bar = brainsim.transforms.ProgressBar(total=1000, desc="run", scale=100)
    >>> _ = brainsim.for_loop(lambda: 0., length=10, progress=bar)
    """

    def __init__(self, total: int, start: int = 0, desc: str = "", scale: int = 1):
        self.total = int(total)
        self.start = int(start)
        self.desc = desc
        self.scale = int(scale)
        self._bar: Any = None

    def update(self, i: Any) -> None:
        done = min(self.total, (int(np.asarray(i)) - self.start) * self.scale)
        if self._bar is not None and done < self._bar.n:
            self._bar.close()
            self._bar = None
        if self._bar is None:
            self._bar = _tqdm()(total=self.total, desc=self.desc, unit="step",
                             dynamic_ncols=True, leave=True)
        self._bar.update(done - self._bar.n)
        if done >= self.total:
            self._bar.close()
            self._bar = None
