"""Streaming a monitor's record to an HDF5 file (h5py), one block of rows per run chunk."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["H5Sink"]

_CHUNK_BYTES = 1 << 20   # HDF5 chunks of ~1 MB: big enough to write fast, small to read a slice


class H5Sink:
    """Writes ``samples`` rows of ``shape``/``dtype`` to dataset ``values`` of a new file.

    The file also holds ``t`` (ms) and the attributes ``unit``, ``every`` and
    ``dt_ms``, so it reads on its own (``h5py.File(path)['values']``).
    """

    def __init__(self, path: str, samples: int, shape: tuple, dtype: np.dtype, unit: Any,
                 t_ms: np.ndarray, every: int, dt_ms: float):
        import h5py
        self.file = h5py.File(path, "w")
        row = max(1, int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
        chunks = (max(1, min(samples, _CHUNK_BYTES // row)),) + tuple(shape) if samples else None
        self.values = self.file.create_dataset("values", shape=(samples,) + tuple(shape),
                                               dtype=dtype, chunks=chunks)
        self.file.create_dataset("t", data=np.asarray(t_ms, np.float64))
        self.file.attrs.update(unit=str(unit), t_unit="ms", every=int(every), dt_ms=float(dt_ms))
        self.pos = 0

    def write(self, rows: np.ndarray) -> None:
        self.values[self.pos:self.pos + len(rows)] = rows
        self.pos += len(rows)

    def close(self) -> None:
        self.file.close()
