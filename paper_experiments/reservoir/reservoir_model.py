"""A leaky tanh rate reservoir with sparse (CSR) or just-in-time (JITC) random weights.

.. math::

    r_{t+1} = (1 - a)\\, r_t + a \\tanh(u_t W_\\mathrm{in} + r_t W_\\mathrm{rec})

``W_in`` (n_in x n): each entry present with probability ``in_prob``, weight U(-in_scale, in_scale).
``W_rec`` (n x n): each entry present with probability ``rec_prob``, weight N(0, sigma^2) with
``sigma = spectral_radius / sqrt(n * rec_prob)``: by the circular law the eigenvalues of an n x n
matrix of i.i.d. entries of variance ``rec_prob * sigma^2`` fill the disc of radius
``sqrt(n * rec_prob) * sigma`` = ``spectral_radius`` (``estimate_spectral_radius`` measures it).

``conn='jit'`` regenerates both matrices from their seeds inside every product (memory O(n));
``conn='csr'`` stores them (memory O(rec_prob * n^2)) and runs on the compiled CSR kernel.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

import brainsim
import brainsim.event as ev

CONNS = ("csr", "jit")


def _csr(n_pre, n_post, prob, seed, draw):
    m = ev.random_conn(n_pre, n_post, prob=prob, seed=seed)
    w = draw(np.random.default_rng(seed + 7919), m.nse).astype(np.float32)
    return m.with_data(w)


class Reservoir(brainsim.DynamicsModule):
    """Leaky rate reservoir (see module docstring); ``update(u)`` takes ``u`` of shape (B, n_in).

    Parameters
    ----------
    n_in, n : int
        Input features and reservoir neurons.
    leak : float
        Leak rate ``a`` in (0, 1].
    spectral_radius : float
        Target spectral radius of ``W_rec`` (circular law).
    in_scale, in_prob, rec_prob : float
        Input weight range, input and recurrent connection probabilities.
    conn : {'csr', 'jit'}
        Stored sparse or just-in-time connectivity.
    seed : int
        Seed of the two matrices.
    """

    def __init__(self, n_in: int, n: int, *, leak: float = 0.6, spectral_radius: float = 1.3,
                 in_scale: float = 0.3, in_prob: float = 0.1, rec_prob: float = 0.1,
                 conn: str = "csr", seed: int = 0):
        super().__init__(n)
        if conn not in CONNS:
            raise ValueError(f"Reservoir: conn must be one of {CONNS}, got {conn!r}.")
        if not 0 < leak <= 1:
            raise ValueError(f"Reservoir: leak must be in (0, 1], got {leak!r}.")
        for name, p in (("in_prob", in_prob), ("rec_prob", rec_prob)):
            if not 0 < p <= 1:
                raise ValueError(f"Reservoir: {name} must be in (0, 1], got {p!r}.")
        self.n_in, self.n, self.leak, self.conn = int(n_in), int(n), float(leak), conn
        self.sigma = spectral_radius / math.sqrt(n * rec_prob)
        if conn == "jit":
            w_in = ev.JITCUniformC((-in_scale, in_scale, in_prob, 2 * seed + 1), shape=(n_in, n))
            w_rec = ev.JITCNormalC((0.0, self.sigma, rec_prob, 2 * seed + 2), shape=(n, n))
        else:
            w_in = _csr(n_in, n, in_prob, 2 * seed + 1,
                        lambda rng, k: rng.uniform(-in_scale, in_scale, k))
            w_rec = _csr(n, n, rec_prob, 2 * seed + 2, lambda rng, k: rng.normal(0.0, self.sigma, k))
        # held in states, so compiled functions take the matrices as inputs, not as constants
        self.w_in = brainsim.LongTermState(w_in)
        self.w_rec = brainsim.LongTermState(w_rec)

    def init_state(self, batch_size=None):
        self.r = brainsim.HiddenState(jnp.zeros(self.batched_shape(batch_size), jnp.float32))

    def update(self, u):
        r = self.r.value
        h = u @ self.w_in.value + r @ self.w_rec.value
        self.r.value = (1.0 - self.leak) * r + self.leak * jnp.tanh(h)
        return self.r.value


def estimate_spectral_radius(M, n: int, iters: int = 60, seed: int = 0) -> float:
    """Spectral radius of the (n, n) operator ``M`` by Gelfand's formula, rho = lim ||v M^k||^(1/k).

    Plain power iteration needs a real dominant eigenvalue; a random matrix has a disc of complex
    ones, so this averages the per-step growth of ``||v M^k||`` over the second half of the run.
    Accurate to a few percent for iters ~ 60 on random matrices.
    """
    v = jnp.asarray(np.random.default_rng(seed).normal(size=(1, n)), jnp.float32)
    v = v / jnp.linalg.norm(v)
    logs = []
    for _ in range(iters):
        v = v @ M
        nv = jnp.linalg.norm(v)
        logs.append(float(jnp.log(nv)))
        v = v / nv
    half = logs[iters // 2:]
    return float(math.exp(sum(half) / len(half)))
