"""Reader for the IDX format used by MNIST and Fashion-MNIST.

Layout (big-endian): two zero bytes, a dtype code (0x08 = uint8), the number
of dimensions ``d``, then ``d`` uint32 sizes, then the row-major payload. The
magic number is the first four bytes as one uint32: 2051 for 3-D uint8
images, 2049 for 1-D uint8 labels. Files may be gzipped (detected from their
first bytes, not their name).
"""
from __future__ import annotations

import gzip
import os
import struct

import numpy as np

__all__ = ['read_idx', 'IMAGES_MAGIC', 'LABELS_MAGIC']

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
_GZIP_MAGIC = b'\x1f\x8b'


def _read_bytes(path: str | os.PathLike) -> bytes:
    with open(path, 'rb') as fh:
        head = fh.read(2)
        fh.seek(0)
        if head == _GZIP_MAGIC:
            try:
                with gzip.GzipFile(fileobj=fh) as gz:
                    return gz.read()
            except (EOFError, gzip.BadGzipFile, OSError) as err:
                raise ValueError(f'{path}: the gzip stream is truncated or corrupt ({err}). '
                                 f'Delete the file and download it again.') from None
        return fh.read()


def read_idx(path: str | os.PathLike, expected_magic: int) -> np.ndarray:
    """Read one uint8 IDX file (raw or gzipped) into a numpy array.

    Parameters
    ----------
    path : path-like
        The file.
    expected_magic : int
        2051 for images (``[N, rows, cols]``) or 2049 for labels (``[N]``).

    Returns
    -------
    numpy.ndarray
        uint8 array with the shape given by the header.

    Raises
    ------
    ValueError
        Wrong magic number, a header shorter than announced, or a payload
        whose size differs from the product of the dimensions (truncated or
        trailing data).
    """
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(f'{path}: file is {len(data)} bytes, too short for an IDX header.')
    (magic,) = struct.unpack('>I', data[:4])
    if magic != expected_magic:
        kind = 'images' if expected_magic == IMAGES_MAGIC else 'labels'
        raise ValueError(f'{path}: bad magic number {magic}, expected {expected_magic} for IDX {kind}; '
                         f'this is not the right file (or it is corrupt).')
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f'{path}: truncated header: {ndim} dimensions need {header} bytes, '
                         f'file has {len(data)}.')
    dims = struct.unpack(f'>{ndim}I', data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header
    if got != expected:
        what = 'truncated' if got < expected else 'has trailing data'
        raise ValueError(f'{path}: file {what}: the header announces shape {tuple(dims)} '
                         f'({expected} bytes of data) but the file holds {got} bytes after the '
                         f'header. Delete it and download it again.')
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)
