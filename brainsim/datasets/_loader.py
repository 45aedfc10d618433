"""A seeded, shuffling mini-batch iterator over in-memory numpy arrays."""
from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np

__all__ = ['DataLoader']


class DataLoader:
    """Iterate over ``(x, y)`` mini-batches of in-memory arrays.

    The order of epoch ``e`` is a permutation drawn from
    ``numpy.random.default_rng([seed, e])``: the same for the same
    ``(seed, epoch)``, different across epochs, independent of any global
    random state. Each ``for`` loop over the loader runs one epoch and then
    advances the epoch counter, so a plain ``for epoch ...: for x, y in
    loader`` reshuffles every epoch; :meth:`set_epoch` or :meth:`epoch`
    select an epoch explicitly (e.g. to resume a run).

    Parameters
    ----------
    images : array-like, shape ``[N, ...]``
        Inputs (kept as numpy; batches are numpy arrays).
    labels : array-like, shape ``[N, ...]``
        Targets, same ``N``.
    batch_size : int
        Samples per batch (> 0).
    shuffle : bool, default True
        Shuffle each epoch; otherwise batches follow the original order.
    seed : int, default 0
        Seed of the shuffling.
    drop_last : bool, default False
        Drop the last batch if it has fewer than ``batch_size`` samples
        (by default it is kept).
    transform : callable, optional
        Applied to every input batch, ``x = transform(x)`` (e.g. scaling to
        [0, 1] or a spike encoder).

    Examples
    --------
    >>> import numpy as np
    >>> from brainsim.datasets import DataLoader
    >>> loader = DataLoader(np.arange(5), np.arange(5) * 10, batch_size=2, shuffle=False)
    >>> [(x.tolist(), y.tolist()) for x, y in loader]
    [([0, 1], [0, 10]), ([2, 3], [20, 30]), ([4], [40])]
    >>> len(loader)
    3
    """

    def __init__(self, images: Any, labels: Any, batch_size: int, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False, transform: Callable[[np.ndarray], Any] | None = None):
        images, labels = np.asarray(images), np.asarray(labels)
        if images.ndim == 0 or labels.ndim == 0 or images.shape[0] != labels.shape[0]:
            raise ValueError(f'images and labels must have the same leading length N; got shapes '
                             f'{images.shape} and {labels.shape}.')
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size <= 0:
            raise ValueError(f'batch_size must be a positive int; got {batch_size!r}.')
        if transform is not None and not callable(transform):
            raise TypeError(f'transform must be callable or None; got {type(transform).__name__}.')
        self.images, self.labels = images, labels
        self.batch_size = int(batch_size)
        self.shuffle, self.seed, self.drop_last, self.transform = shuffle, int(seed), drop_last, transform
        self._epoch = 0

    def __len__(self) -> int:
        n = self.images.shape[0]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``for`` loop run epoch ``epoch``."""
        if epoch < 0:
            raise ValueError(f'epoch must be >= 0; got {epoch}.')
        self._epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order (indices, shape ``[N]``) of epoch ``epoch``."""
        n = self.images.shape[0]
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, int(epoch)]).permutation(n)

    def epoch(self, epoch: int) -> Iterator[tuple[Any, np.ndarray]]:
        """Iterate over the batches of epoch ``epoch`` (does not move the counter)."""
        idx = self.order(epoch)
        for b in range(len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            x = self.images[sel]
            yield (self.transform(x) if self.transform is not None else x), self.labels[sel]

    def __iter__(self) -> Iterator[tuple[Any, np.ndarray]]:
        current = self._epoch
        self._epoch += 1
        return self.epoch(current)

    def __repr__(self) -> str:
        return (f'DataLoader(n={self.images.shape[0]}, batch_size={self.batch_size}, shuffle={self.shuffle}, '
                f'seed={self.seed}, drop_last={self.drop_last})')


DataLoader.__module__ = 'brainsim.datasets'
