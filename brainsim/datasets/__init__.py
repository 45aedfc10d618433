"""Datasets and a seeded mini-batch iterator.

``FashionMNIST(root, split)`` reads (and if needed downloads) the official IDX
files with full validation; ``DataLoader`` yields shuffled numpy batches that
are reproducible per seed and epoch. ``read_idx`` reads any uint8 IDX file.
``DMS`` generates trials of the delayed match-to-sample working-memory task.
"""
from ._dms import DMS, DMSTrials
from ._fashion_mnist import MIRROR, OFFICIAL_FILES, FashionMNIST
from ._idx import read_idx
from ._loader import DataLoader

__all__ = ['FashionMNIST', 'DataLoader', 'read_idx', 'MIRROR', 'OFFICIAL_FILES', 'DMS', 'DMSTrials']
