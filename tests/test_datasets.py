"""Tests for brainsim.datasets: IDX validation, download, DataLoader."""
import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_data_dir

from brainsim import datasets
from brainsim.datasets import _fashion_mnist

HEAD_FILES = ('train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz')


def _shared_head() -> Path:
    """The shared Fashion-MNIST head (see conftest.shared_data_dir)."""
    root = shared_data_dir('fashion-mnist-head')
    missing = [f for f in HEAD_FILES if not (root / f).is_file()]
    if missing:
        pytest.fail(f'shared Fashion-MNIST head at {root} lacks {missing}')
    return root


def _idx_bytes(magic, dims, payload):
    return struct.pack(f'>I{len(dims)}I', magic, *dims) + bytes(payload)


def _write(path: Path, data: bytes, gz: bool):
    if gz:
        path = path.with_name(path.name + '.gz')
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def _make_split(root: Path, n=5, n_labels=None, gz=True, split='train', seed=0, label_max=9):
    rng = np.random.default_rng(seed)
    imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    lbls = rng.integers(0, label_max + 1, size=n_labels if n_labels is not None else n, dtype=np.uint8)
    stem_i, stem_l = ('train', 'train') if split == 'train' else ('t10k', 't10k')
    _write(root / f'{stem_i}-images-idx3-ubyte', _idx_bytes(2051, imgs.shape, imgs.tobytes()), gz)
    _write(root / f'{stem_l}-labels-idx1-ubyte', _idx_bytes(2049, lbls.shape, lbls.tobytes()), gz)
    return imgs, lbls


# ---------------------------------------------------------------- real data

def test_shared_head_loads():
    root = _shared_head()
    ds = datasets.FashionMNIST(root, split='train', download=False)
    assert ds.images.shape == (3615, 28, 28) and ds.images.dtype == np.uint8
    assert ds.labels.shape == (3615,) and len(ds) == 3615
    assert set(np.unique(ds.labels).tolist()) == set(range(10))
    counts = np.bincount(ds.labels, minlength=10)
    assert counts.min() >= 335 and counts.max() <= 394          # from the shared README
    # independent reference: skip the 16/8-byte headers by hand
    with gzip.open(root / 'train-images-idx3-ubyte.gz') as fh:
        ref_img = np.frombuffer(fh.read()[16:], np.uint8).reshape(-1, 28, 28)
    with gzip.open(root / 'train-labels-idx1-ubyte.gz') as fh:
        ref_lbl = np.frombuffer(fh.read()[8:], np.uint8)
    np.testing.assert_array_equal(ds.images, ref_img)
    np.testing.assert_array_equal(ds.labels, ref_lbl)


# ---------------------------------------------------------------- validation

@pytest.mark.parametrize('gz', [True, False])
def test_generated_roundtrip_gz_and_raw(tmp_path, gz):
    imgs, lbls = _make_split(tmp_path, n=7, gz=gz, split='test')
    ds = datasets.FashionMNIST(tmp_path, split='test', download=False)
    np.testing.assert_array_equal(ds.images, imgs)
    np.testing.assert_array_equal(ds.labels, lbls)


def test_wrong_magic(tmp_path):
    _make_split(tmp_path, n=3)
    _write(tmp_path / 'train-labels-idx1-ubyte', _idx_bytes(2051, (3,), [1, 2, 3]), gz=True)
    with pytest.raises(ValueError, match='bad magic number 2051, expected 2049 for IDX labels'):
        datasets.FashionMNIST(tmp_path, download=False)


@pytest.mark.parametrize('gz', [True, False])
def test_truncated_payload(tmp_path, gz):
    _make_split(tmp_path, n=3, gz=gz)
    full = _idx_bytes(2051, (3, 28, 28), bytes(3 * 784))
    _write(tmp_path / 'train-images-idx3-ubyte', full[:-100], gz)
    with pytest.raises(ValueError, match=r'file truncated: the header announces shape \(3, 28, 28\) '
                                         r'\(2352 bytes of data\) but the file holds 2252 bytes'):
        datasets.FashionMNIST(tmp_path, download=False)


def test_trailing_data_and_truncated_gzip(tmp_path):
    _make_split(tmp_path, n=2)
    _write(tmp_path / 'train-labels-idx1-ubyte', _idx_bytes(2049, (2,), [1, 2, 3]), gz=True)
    with pytest.raises(ValueError, match='file has trailing data'):
        datasets.FashionMNIST(tmp_path, download=False)
    p = tmp_path / 'train-labels-idx1-ubyte.gz'
    p.write_bytes(gzip.compress(_idx_bytes(2049, (2,), [1, 2]))[:-6])   # cut the gzip stream
    with pytest.raises(ValueError, match='gzip stream is truncated or corrupt'):
        datasets.FashionMNIST(tmp_path, download=False)


def test_mismatched_counts(tmp_path):
    _make_split(tmp_path, n=4, n_labels=5)
    with pytest.raises(ValueError, match='image and label counts differ: .* holds 4 images but .* holds 5 labels'):
        datasets.FashionMNIST(tmp_path, download=False)


def test_wrong_image_size_and_label_range(tmp_path):
    _make_split(tmp_path, n=2)
    _write(tmp_path / 'train-images-idx3-ubyte', _idx_bytes(2051, (2, 32, 32), bytes(2 * 1024)), True)
    with pytest.raises(ValueError, match=r'expected images of shape \[N, 28, 28\]; the header says \[2, 32, 32\]'):
        datasets.FashionMNIST(tmp_path, download=False)
    _make_split(tmp_path, n=2)
    _write(tmp_path / 'train-labels-idx1-ubyte', _idx_bytes(2049, (2,), [1, 12]), True)
    with pytest.raises(ValueError, match=r'labels must be in 0\.\.9; found 12'):
        datasets.FashionMNIST(tmp_path, download=False)


def test_bad_split(tmp_path):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'val'"):
        datasets.FashionMNIST(tmp_path, split='val', download=False)


def test_checksum_checked_only_at_official_size(tmp_path, monkeypatch):
    _make_split(tmp_path, n=3)
    p = tmp_path / 'train-images-idx3-ubyte.gz'
    size, good = p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest()
    table = dict(_fashion_mnist.OFFICIAL_FILES)
    # a different official size: the checksum is not consulted
    table['train-images-idx3-ubyte.gz'] = (size + 1, '0' * 64)
    monkeypatch.setattr(_fashion_mnist, 'OFFICIAL_FILES', table)
    datasets.FashionMNIST(tmp_path, download=False)
    # same size, wrong hash: rejected
    table['train-images-idx3-ubyte.gz'] = (size, '0' * 64)
    with pytest.raises(ValueError, match='does not match the official Fashion-MNIST checksum'):
        datasets.FashionMNIST(tmp_path, download=False)
    table['train-images-idx3-ubyte.gz'] = (size, good)
    assert len(datasets.FashionMNIST(tmp_path, download=False)) == 3


def test_missing_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r'Fashion-MNIST train files missing \(download=False\): '
                                                r'train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz\. '
                                                rf'Put them .* in {tmp_path}'):
        datasets.FashionMNIST(tmp_path, download=False)


# ---------------------------------------------------------------- download

class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    served = tmp_path / 'served'
    served.mkdir()
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served, f'http://127.0.0.1:{server.server_address[1]}/'
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_from_local_mirror(tmp_path, http_root, monkeypatch):
    served, url = http_root
    imgs, lbls = _make_split(served, n=6, split='test')
    monkeypatch.setattr(_fashion_mnist, 'MIRROR', url)
    root = tmp_path / 'data' / 'fmnist'
    ds = datasets.FashionMNIST(root, split='test')
    np.testing.assert_array_equal(ds.images, imgs)
    np.testing.assert_array_equal(ds.labels, lbls)
    assert sorted(p.name for p in root.iterdir()) == ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']


def test_download_checksum_mismatch_leaves_nothing(tmp_path, http_root, monkeypatch):
    served, url = http_root
    _make_split(served, n=2)
    size = (served / 'train-labels-idx1-ubyte.gz').stat().st_size
    table = dict(_fashion_mnist.OFFICIAL_FILES)
    table['train-labels-idx1-ubyte.gz'] = (size, 'f' * 64)
    monkeypatch.setattr(_fashion_mnist, 'OFFICIAL_FILES', table)
    root = tmp_path / 'dl'
    with pytest.raises(ValueError, match=r'downloaded .*train-labels-idx1-ubyte\.gz has sha256 .*\(nothing was saved\)'):
        datasets.FashionMNIST(root, mirror=url)
    assert sorted(p.name for p in root.iterdir()) == ['train-images-idx3-ubyte.gz']   # no partial files


def test_download_404(tmp_path, http_root):
    served, url = http_root
    with pytest.raises(FileNotFoundError, match=r'download from .*train-images-idx3-ubyte\.gz failed'):
        datasets.FashionMNIST(tmp_path / 'x', mirror=url)


def test_offline_error(tmp_path, monkeypatch):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(_fashion_mnist, 'MIRROR', f'http://127.0.0.1:{port}/')
    root = tmp_path / 'off'
    with pytest.raises(FileNotFoundError, match=r'Fashion-MNIST test files missing \(download from '
                                                rf'http://127\.0\.0\.1:{port}/t10k-images-idx3-ubyte\.gz failed.*'
                                                r't10k-images-idx3-ubyte\.gz, t10k-labels-idx1-ubyte\.gz\. Put them'):
        datasets.FashionMNIST(root, split='test', timeout=5)
    assert list(root.iterdir()) == []


# ---------------------------------------------------------------- DataLoader

def _batches(it):
    return [(x.copy(), y.copy()) for x, y in it]


def test_loader_deterministic_per_seed_and_epoch():
    x, y = np.arange(23) * 2, np.arange(23)
    a = datasets.DataLoader(x, y, batch_size=5, seed=3)
    b = datasets.DataLoader(x, y, batch_size=5, seed=3)
    e0a, e0b = _batches(a), _batches(b)
    for (xa, ya), (xb, yb) in zip(e0a, e0b):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    e1 = _batches(a)                                   # second loop = epoch 1: reshuffled
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(e0a, e1))
    b.set_epoch(1)
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(e1, _batches(b)))
    assert all(np.array_equal(p[1], q[1]) for p, q in zip(e0a, _batches(a.epoch(0))))
    c = datasets.DataLoader(x, y, batch_size=5, seed=4)
    assert not all(np.array_equal(p[1], q[1]) for p, q in zip(e0a, _batches(c)))
    # each epoch is a permutation and pairs stay aligned
    for batches in (e0a, e1):
        ys = np.concatenate([q for _, q in batches])
        np.testing.assert_array_equal(np.sort(ys), y)
        np.testing.assert_array_equal(np.concatenate([p for p, _ in batches]), ys * 2)


def test_loader_partial_last_batch_and_drop_last():
    x, y = np.zeros((23, 4)), np.arange(23)
    keep = datasets.DataLoader(x, y, batch_size=5, shuffle=False)
    sizes = [len(b) for _, b in keep]
    assert sizes == [5, 5, 5, 5, 3] and len(keep) == 5
    drop = datasets.DataLoader(x, y, batch_size=5, drop_last=True)
    assert [len(b) for _, b in drop] == [5, 5, 5, 5] and len(drop) == 4


def test_loader_transform_and_errors():
    x, y = np.arange(6, dtype=np.uint8).reshape(6, 1), np.arange(6)
    loader = datasets.DataLoader(x, y, batch_size=4, shuffle=False, transform=lambda b: b / 255.)
    xb, yb = next(iter(loader))
    np.testing.assert_allclose(xb, np.arange(4).reshape(4, 1) / 255.)
    with pytest.raises(ValueError, match=r'same leading length N; got shapes \(6, 1\) and \(5,\)'):
        datasets.DataLoader(x, y[:5], batch_size=2)
    with pytest.raises(ValueError, match='batch_size must be a positive int; got 0'):
        datasets.DataLoader(x, y, batch_size=0)
    with pytest.raises(TypeError, match='transform must be callable'):
        datasets.DataLoader(x, y, batch_size=2, transform=3)
