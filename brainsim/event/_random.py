"""Random connectivity builder (NumPy, vectorised in row blocks, never an m x n array)."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ._csr import CSR
from ._fixed import FixedNumPerPost, FixedNumPerPre

__all__ = ["random_conn"]

_BLOCK = 1 << 22  # matrix entries evaluated per block for callable probabilities


def _seed_of(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"random_conn: seed must be an integer, got {seed!r} of type {type(seed).__name__}")
    return int(seed)


def _geometric_rows(rng, rows, ncols, prob):
    """Column sets of Bernoulli(prob) rows over ``ncols`` columns by geometric skipping."""
    nr = rows.shape[0]
    mean = prob * ncols
    L = int(min(ncols, np.ceil(mean + 6 * np.sqrt(mean + 1) + 8)))
    gaps = rng.geometric(prob, size=(nr, L)).astype(np.int64)
    cols = np.cumsum(gaps, axis=1) - 1
    short = np.nonzero(cols[:, -1] < ncols)[0]  # rows that may need more draws (rare)
    out_r, out_c = [np.repeat(rows, 0)], [np.zeros(0, np.int64)]
    keep = cols < ncols
    out_r.append(np.broadcast_to(rows[:, None], cols.shape)[keep])
    out_c.append(cols[keep])
    for r in short:
        last = cols[r, -1]
        extra = []
        while True:
            last = last + rng.geometric(prob)
            if last >= ncols:
                break
            extra.append(last)
        out_r.append(np.full(len(extra), rows[r]))
        out_c.append(np.asarray(extra, np.int64))
    return np.concatenate(out_r), np.concatenate(out_c)


def _fixed_rows(rng, nrows, ncols, num, excl):
    """(nrows, num) distinct columns per row, uniformly; ``excl[r]`` (or -1) is forbidden."""
    avail = ncols - (excl >= 0)
    out = np.empty((nrows, num), np.int64)
    if num == 0:
        return out
    if num * 4 >= ncols:  # dense regime: random keys per block, partial sort
        bs = max(1, _BLOCK // max(ncols, 1))
        for s in range(0, nrows, bs):
            keys = rng.random((min(bs, nrows - s), ncols))
            e = excl[s:s + bs]
            keys[e >= 0, e[e >= 0]] = 2.0
            out[s:s + bs] = np.argpartition(keys, num - 1, axis=1)[:, :num]
    else:  # sparse regime: draw with replacement, redraw the rare rows with duplicates
        draw = rng.integers(0, avail[:, None], size=(nrows, num))
        draw = draw + ((excl[:, None] >= 0) & (draw >= excl[:, None]))
        srt = np.sort(draw, axis=1)
        bad = np.nonzero(np.any(srt[:, 1:] == srt[:, :-1], axis=1))[0]
        for r in bad:
            d = rng.choice(avail[r], num, replace=False)
            draw[r] = d + ((excl[r] >= 0) & (d >= excl[r]))
        out[:] = draw
    return np.sort(out, axis=1)


def random_conn(n_pre: int, n_post: int, prob: float | Callable | None = None, num: int | None = None, *,
                seed: int = 0, allow_self: bool = True, format: str = "csr", weight=1.0,
                pre_positions=None, post_positions=None):
    """Random connectivity, deterministic for a given ``seed``.

    Parameters
    ----------
    n_pre, n_post : int
        Matrix shape ``(n_pre, n_post)``.
    prob : float or callable, optional
        Connection probability in [0, 1]; or ``prob(a, b)`` returning probabilities for index
        blocks ``a`` (shape (r, 1)) and ``b`` (shape (1, n_post)), or for position blocks when
        ``pre_positions``/``post_positions`` (shape (n, d) or (n,)) are given. Evaluated on
        blocks of rows, never on the full m x n grid. Only for ``format='csr'``.
    num : int, optional
        Exactly ``num`` distinct targets per pre neuron (``'fixed_pre'`` or ``'csr'``) or
        sources per post neuron (``'fixed_post'``).
    seed : int
        Random seed.
    allow_self : bool
        If False (square matrices), no ``i -> i`` connection.
    format : {'csr', 'fixed_pre', 'fixed_post'}
    weight : scalar or Quantity
        Homogeneous weight stored in the result.

    Examples
    --------
    >>> import brainsim.event as ev
    >>> M = ev.random_conn(1000, 1000, prob=0.02, seed=1)
    >>> 0.018 < M.nse / 1e6 < 0.022
    True
    >>> ev.random_conn(10, 20, num=3, format='fixed_pre').indices.shape
    (10, 3)
    """
    seed = _seed_of(seed)
    for name, v in (("n_pre", n_pre), ("n_post", n_post)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"random_conn: {name} must be a non-negative int, got {v!r}.")
    n_pre, n_post = int(n_pre), int(n_post)
    if format not in ("csr", "fixed_pre", "fixed_post"):
        raise ValueError(f"random_conn: format must be 'csr', 'fixed_pre' or 'fixed_post', got {format!r}")
    if (prob is None) == (num is None):
        raise ValueError("random_conn: give exactly one of prob= or num=")
    rng = np.random.default_rng(seed)
    no_self = (not allow_self) and n_pre == n_post
    if num is not None:
        num = int(num)
        rows, cols = (n_post, n_pre) if format == "fixed_post" else (n_pre, n_post)
        limit = cols - (1 if no_self else 0)
        if not 0 <= num <= limit:
            raise ValueError(f"random_conn: num={num} must be in [0, {limit}] (row length without "
                             f"replacement{' and without self connections' if no_self else ''})")
        excl = np.arange(rows) if no_self else np.full(rows, -1)
        idx = _fixed_rows(rng, rows, cols, num, excl).astype(np.int32)
        if format == "fixed_pre":
            return FixedNumPerPre((weight, idx), shape=(n_pre, n_post))
        if format == "fixed_post":
            return FixedNumPerPost((weight, idx), shape=(n_pre, n_post))
        r = np.repeat(np.arange(n_pre), num)
        return _csr_from(r, idx.ravel(), weight, n_pre, n_post)
    if format != "csr":
        raise ValueError(f"random_conn: format={format!r} needs num=, not prob= (rows would differ in length)")
    if callable(prob):
        r, c = _callable_rows(rng, n_pre, n_post, prob, no_self, pre_positions, post_positions)
        return _csr_from(r, c, weight, n_pre, n_post)
    prob = float(prob)
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"random_conn: prob must be in [0, 1], got {prob}")
    if prob == 0.0 or n_post == 0 or n_pre == 0:
        return _csr_from(np.zeros(0, int), np.zeros(0, int), weight, n_pre, n_post)
    ncols = n_post - (1 if no_self else 0)
    bs = max(1, _BLOCK // max(1, int(prob * ncols * 1.5) + 16))
    rs, cs = [], []
    for s in range(0, n_pre, bs):
        rows = np.arange(s, min(n_pre, s + bs))
        if prob == 1.0:
            r = np.repeat(rows, ncols)
            c = np.tile(np.arange(ncols), rows.shape[0])
        else:
            r, c = _geometric_rows(rng, rows, ncols, prob)
        if no_self:
            c = c + (c >= r)
        rs.append(r)
        cs.append(c)
    return _csr_from(np.concatenate(rs), np.concatenate(cs), weight, n_pre, n_post)


def _callable_rows(rng, n_pre, n_post, prob, no_self, pre_pos, post_pos):
    bs = max(1, _BLOCK // max(1, n_post))
    j = np.arange(n_post)[None, :]
    b = j if post_pos is None else np.asarray(post_pos)[None, :]
    rs, cs = [], []
    for s in range(0, n_pre, bs):
        i = np.arange(s, min(n_pre, s + bs))[:, None]
        a = i if pre_pos is None else np.asarray(pre_pos)[i[:, 0]][:, None]
        pr = np.broadcast_to(np.asarray(prob(a, b), dtype=np.float64), (i.shape[0], n_post))
        if np.any((pr < 0) | (pr > 1)) or np.any(np.isnan(pr)):
            raise ValueError(f"random_conn: prob(...) returned values outside [0, 1] "
                             f"(min {np.nanmin(pr)}, max {np.nanmax(pr)})")
        hit = rng.random(pr.shape) < pr
        if no_self:
            hit &= i != j
        r, c = np.nonzero(hit)
        rs.append(r + s)
        cs.append(c)
    return np.concatenate(rs), np.concatenate(cs)


def _csr_from(r, c, weight, m, n):
    # rows arrive sorted and each row's columns ascending (cumsum / nonzero order)
    indptr = np.zeros(m + 1, np.int64)
    np.cumsum(np.bincount(r, minlength=m), out=indptr[1:])
    return CSR((weight, c.astype(np.int32), indptr.astype(np.int32)), shape=(m, n))
