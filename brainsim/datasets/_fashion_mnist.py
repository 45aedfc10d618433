"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017) from its official IDX files."""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ._idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = ['FashionMNIST', 'MIRROR', 'OFFICIAL_FILES']

#: Official download location (zalandoresearch/fashion-mnist README).
MIRROR = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'

#: Official gzipped files: name -> (size in bytes, sha256).
OFFICIAL_FILES: dict[str, tuple[int, str]] = {
    'train-images-idx3-ubyte.gz': (26421880, '08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc'),
    'train-labels-idx1-ubyte.gz': (29515, 'b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc'),
    't10k-images-idx3-ubyte.gz': (4422102, '78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229'),
    't10k-labels-idx1-ubyte.gz': (5148, '42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf'),
}

_SPLITS = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
}
_CHUNK = 1 << 20


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as fh:
        for block in iter(lambda: fh.read(_CHUNK), b''):
            h.update(block)
    return h.hexdigest()


def _verify_checksum(path: Path) -> None:
    """Check an official ``.gz`` file's sha256 when it has the official size.

    Files of another size (a subset such as the first N images, or a test
    fixture) are validated by their IDX header only.
    """
    official = OFFICIAL_FILES.get(path.name)
    if official is None or path.stat().st_size != official[0]:
        return
    digest = _sha256(path)
    if digest != official[1]:
        raise ValueError(f'{path}: sha256 {digest} does not match the official Fashion-MNIST '
                         f'checksum {official[1]}; the file is corrupt. Delete it and download it again.')


def _find(root: Path, stem: str) -> Path | None:
    for candidate in (root / f'{stem}.gz', root / stem):
        if candidate.is_file():
            return candidate
    return None


def _download(url: str, dest: Path, timeout: float) -> None:
    """Fetch ``url`` to ``dest`` atomically: a temporary file in the same
    directory, checksum-verified, then ``os.replace`` (never a partial file)."""
    fd, tmp = tempfile.mkstemp(prefix=f'.{dest.name}.', suffix='.part', dir=dest.parent)
    try:
        with os.fdopen(fd, 'wb') as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for block in iter(lambda: resp.read(_CHUNK), b''):
                out.write(block)
        official = OFFICIAL_FILES.get(dest.name)
        if official is not None and os.path.getsize(tmp) == official[0]:
            digest = _sha256(Path(tmp))
            if digest != official[1]:
                raise ValueError(f'downloaded {url} has sha256 {digest}, expected {official[1]}; '
                                 f'the download is corrupt (nothing was saved). Try again.')
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class FashionMNIST:
    """The Fashion-MNIST images and labels of one split, read from IDX files.

    Looks in ``root`` for ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``
    (``split='train'``, 60000 images) or ``t10k-images-idx3-ubyte`` /
    ``t10k-labels-idx1-ubyte`` (``split='test'``, 10000 images), each gzipped
    (``.gz``, preferred) or raw. Missing files are downloaded from :data:`MIRROR`
    when ``download=True``.

    Validation: IDX magic numbers (2051 images, 2049 labels), 28x28 images,
    file sizes against the header (truncated files are rejected), equal image
    and label counts, labels in 0..9, and the sha256 of every ``.gz`` file that
    has the official size (:data:`OFFICIAL_FILES`). Files of another size, such
    as a subset of the first N images, skip only the checksum. Nothing is ever
    unpickled.

    Parameters
    ----------
    root : path-like
        Directory holding (or receiving) the files.
    split : {'train', 'test'}
        Which split to load.
    download : bool, default True
        Download missing files. Offline, a ``FileNotFoundError`` says which
        files are missing and where to put them.
    mirror : str, optional
        Base URL to download from (default :data:`MIRROR`).
    timeout : float, default 60
        Seconds to wait on the network per request.

    Attributes
    ----------
    images : numpy.ndarray, uint8, shape ``[N, 28, 28]``
        Pixel intensities 0..255 (read-only view of the file contents).
    labels : numpy.ndarray, uint8, shape ``[N]``
        Class indices 0..9 (see :attr:`CLASSES`).

    Examples
    --------
    >>> import numpy as np, tempfile, gzip, struct, pathlib
    >>> from brainsim.datasets import FashionMNIST
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / 'train-images-idx3-ubyte').write_bytes(struct.pack('>IIII', 2051, 2, 28, 28) + bytes(2 * 784))
    >>> _ = (d / 'train-labels-idx1-ubyte').write_bytes(struct.pack('>II', 2049, 2) + bytes([3, 7]))
    >>> ds = FashionMNIST(d, split='train', download=False)
    >>> ds.images.shape, ds.labels.tolist(), len(ds)
    ((2, 28, 28), [3, 7], 2)
    """

    CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
               'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')

    def __init__(self, root: str | os.PathLike, split: str = 'train', download: bool = True,
                 mirror: str | None = None, timeout: float = 60.0):
        if split not in _SPLITS:
            raise ValueError(f"split must be 'train' or 'test'; got {split!r}.")
        self.root = Path(root)
        self.split = split
        stems = _SPLITS[split]
        paths = {s: _find(self.root, s) for s in stems}
        missing = [s for s, p in paths.items() if p is None]
        if missing:
            if download:
                self._fetch(missing, MIRROR if mirror is None else mirror, timeout)
                paths = {s: _find(self.root, s) for s in stems}
            else:
                raise FileNotFoundError(self._missing_message(missing, 'download=False'))
        img_path, lbl_path = paths[stems[0]], paths[stems[1]]
        for p in (img_path, lbl_path):
            if p.suffix == '.gz':
                _verify_checksum(p)
        images = read_idx(img_path, IMAGES_MAGIC)
        labels = read_idx(lbl_path, LABELS_MAGIC)
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise ValueError(f'{img_path}: expected images of shape [N, 28, 28]; the header says '
                             f'{list(images.shape)}.')
        if labels.ndim != 1:
            raise ValueError(f'{lbl_path}: expected labels of shape [N]; the header says {list(labels.shape)}.')
        if images.shape[0] != labels.shape[0]:
            raise ValueError(f'image and label counts differ: {img_path.name} holds {images.shape[0]} images '
                             f'but {lbl_path.name} holds {labels.shape[0]} labels. Use files from the same split.')
        if labels.size and labels.max() > 9:
            raise ValueError(f'{lbl_path}: labels must be in 0..9; found {int(labels.max())}.')
        self.images: np.ndarray = images
        self.labels: np.ndarray = labels

    def _missing_message(self, missing: list[str], why: str) -> str:
        names = ', '.join(f'{s}.gz' for s in missing)
        return (f'Fashion-MNIST {self.split} files missing ({why}): {names}. Put them (gzipped, or '
                f'uncompressed without .gz) in {self.root.resolve()}/ ; they are available from '
                f'{MIRROR} (see https://github.com/zalandoresearch/fashion-mnist).')

    def _fetch(self, missing: list[str], mirror: str, timeout: float) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        base = mirror if mirror.endswith('/') else mirror + '/'
        for stem in missing:
            url = base + stem + '.gz'
            try:
                _download(url, self.root / f'{stem}.gz', timeout)
            except (urllib.error.URLError, OSError) as err:   # offline, refused, timeout, HTTP error
                still = [s for s in missing if _find(self.root, s) is None]
                raise FileNotFoundError(self._missing_message(
                    still, f'download from {url} failed: {err}')) from err

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __repr__(self) -> str:
        return f'FashionMNIST(root={str(self.root)!r}, split={self.split!r}, n={len(self)})'


FashionMNIST.__module__ = 'brainsim.datasets'
