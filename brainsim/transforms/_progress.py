"""A progress bar driven from inside compiled loops by sparse host callbacks."""

from __future__ import annotations

from typing import Any

import numpy as np
from tqdm.auto import tqdm

__all__ = ["ProgressBar"]


class ProgressBar:
    """Shows how many steps of a compiled loop have run.

    The loop calls :meth:`update` with its step index a few dozen times per
    run. A count that goes backwards means the compiled loop was called
    again, so a fresh bar starts.
    """

    def __init__(self, total: int, start: int = 0, desc: str = ""):
        self.total = int(total)
        self.start = int(start)
        self.desc = desc
        self._bar: Any = None

    def update(self, i: Any) -> None:
        done = min(self.total, int(np.asarray(i)) - self.start)
        if self._bar is not None and done < self._bar.n:
            self._bar.close()
            self._bar = None
        if self._bar is None:
            self._bar = tqdm(total=self.total, desc=self.desc, unit="step",
                             dynamic_ncols=True, leave=True)
        self._bar.update(done - self._bar.n)
        if done >= self.total:
            self._bar.close()
            self._bar = None
