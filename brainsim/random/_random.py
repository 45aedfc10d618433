"""NumPy-like random sampling whose key is a State.

The key lives in a :class:`RandomState`, so the transforms thread it like
any other state: sampling works eagerly and under ``jit``, ``for_loop`` and
``vmap`` (where each lane gets its own key), and one seed always gives the
same numbers whichever way the code runs.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._state import LongTermState

__all__ = [
    "RandomState", "DEFAULT", "seed", "split_key", "get_key", "set_key",
    "rand", "randn", "random", "uniform", "normal", "bernoulli", "randint",
    "choice", "permutation", "shuffle", "poisson", "exponential", "gamma",
    "truncated_normal",
]

Shape = int | Sequence[int] | None


def _key_from_seed(seed: Any) -> jax.Array:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(
            f"seed must be an int, got {type(seed).__name__} {seed!r}. Example: "
            "brainsim.random.seed(42)."
        )
    return jax.random.PRNGKey(int(seed) % (2 ** 32))


def _shape(size: Shape) -> tuple[int, ...]:
    if size is None:
        return ()
    if isinstance(size, (int, np.integer)):
        return (int(size),)
    return tuple(int(s) for s in size)


class RandomState(LongTermState):
    """A PRNG key held in a state, with NumPy-like sampling methods.

    Parameters
    ----------
    seed : int, optional
        The seed. Without one the seed comes from the operating system.

    Examples
    --------
    >>> import brainsim
    >>> rng = brainsim.random.RandomState(0)
    >>> rng.uniform(size=3).shape
    (3,)
    """

    __module__ = "brainsim.random"
    __slots__ = ()

    def __init__(self, seed: int | None = None):
        if seed is None:
            seed = int.from_bytes(os.urandom(4), "little") >> 1   # 31 bits: see below
        host = (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool)
                and 0 <= int(seed) < 2 ** 31)
        if host and jax.config.jax_default_prng_impl == "threefry2x32":
            # The same key as PRNGKey(seed), built on the host: creating a RandomState (the
            # global one, at import) must not start JAX's backends, so that
            # jax.distributed.initialize can still be called after ``import brainsim``.
            super().__init__(None, name="brainsim.random key")
            self._value = np.array([0, int(seed)], np.uint32)
        else:
            super().__init__(_key_from_seed(seed), name="brainsim.random key")

    def seed(self, seed: int) -> None:
        """Restart the stream from ``seed``."""
        self.value = _key_from_seed(seed)

    def split_key(self, n: int | None = None) -> jax.Array:
        """Advance the stream and return one new key (or ``n`` keys)."""
        keys = jax.random.split(self.value, 2 if n is None else n + 1)
        self.value = keys[0]
        return keys[1] if n is None else keys[1:]

    # -- distributions (NumPy's names and argument order) -------------------
    def rand(self, *shape: int, dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(self.split_key(), shape, dtype)

    def randn(self, *shape: int, dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.normal(self.split_key(), shape, dtype)

    def random(self, size: Shape = None, dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(self.split_key(), _shape(size), dtype)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Shape = None,
                dtype: Any = jnp.float32) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.broadcast_shapes(
            jnp.shape(low), jnp.shape(high))
        return jax.random.uniform(self.split_key(), shape, dtype, low, high)

    def normal(self, loc: Any = 0.0, scale: Any = 1.0, size: Shape = None,
               dtype: Any = jnp.float32) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.broadcast_shapes(
            jnp.shape(loc), jnp.shape(scale))
        return loc + scale * jax.random.normal(self.split_key(), shape, dtype)

    def truncated_normal(self, lower: Any, upper: Any, size: Shape = None,
                         loc: Any = 0.0, scale: Any = 1.0) -> jax.Array:
        shape = _shape(size) if size is not None else None
        z = jax.random.truncated_normal(self.split_key(), lower, upper, shape)
        return loc + scale * z

    def bernoulli(self, p: Any = 0.5, size: Shape = None) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.shape(p)
        return jax.random.bernoulli(self.split_key(), p, shape)

    def randint(self, low: int, high: int | None = None, size: Shape = None,
                dtype: Any = jnp.int32) -> jax.Array:
        if high is None:
            low, high = 0, low
        return jax.random.randint(self.split_key(), _shape(size), low, high, dtype)

    def choice(self, a: Any, size: Shape = None, replace: bool = True,
               p: Any = None) -> jax.Array:
        return jax.random.choice(self.split_key(), a, _shape(size), replace, p)

    def permutation(self, x: Any) -> jax.Array:
        return jax.random.permutation(self.split_key(), x)

    def shuffle(self, x: Any, axis: int = 0) -> jax.Array:
        return jax.random.permutation(self.split_key(), x, axis=axis, independent=False)

    def poisson(self, lam: Any = 1.0, size: Shape = None) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.shape(lam)
        return jax.random.poisson(self.split_key(), lam, shape)

    def exponential(self, scale: Any = 1.0, size: Shape = None) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.shape(scale)
        return scale * jax.random.exponential(self.split_key(), shape)

    def gamma(self, shape_param: Any, scale: Any = 1.0, size: Shape = None) -> jax.Array:
        shape = _shape(size) if size is not None else jnp.shape(shape_param)
        return scale * jax.random.gamma(self.split_key(), shape_param, shape)


DEFAULT = RandomState()
"""The global random state that the module-level functions draw from."""


def seed(seed: int) -> None:
    """Seed the global random state: the same seed gives the same numbers.

    Examples
    --------
    >>> import brainsim
    >>> brainsim.random.seed(1); a = brainsim.random.rand(2)
    >>> brainsim.random.seed(1); b = brainsim.random.rand(2)
    >>> bool((a == b).all())
    True
    """
    DEFAULT.seed(seed)


def split_key(n: int | None = None) -> jax.Array:
    """A fresh key (or ``n`` keys) from the global stream."""
    return DEFAULT.split_key(n)


def get_key() -> jax.Array:
    """The global key itself (for saving it)."""
    return DEFAULT.value


def set_key(key: jax.Array) -> None:
    """Set the global key (e.g. one returned by :func:`get_key`)."""
    DEFAULT.value = jnp.asarray(key, dtype=jnp.uint32)


def _bind(name: str):
    def sample(*args: Any, **kwargs: Any) -> jax.Array:
        return getattr(DEFAULT, name)(*args, **kwargs)

    sample.__name__ = name
    sample.__qualname__ = name
    sample.__doc__ = f"Sample from the global random state; see ``RandomState.{name}``."
    return sample


rand = _bind("rand")
randn = _bind("randn")
random = _bind("random")
uniform = _bind("uniform")
normal = _bind("normal")
truncated_normal = _bind("truncated_normal")
bernoulli = _bind("bernoulli")
randint = _bind("randint")
choice = _bind("choice")
permutation = _bind("permutation")
shuffle = _bind("shuffle")
poisson = _bind("poisson")
exponential = _bind("exponential")
gamma = _bind("gamma")
