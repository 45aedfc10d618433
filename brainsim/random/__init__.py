"""NumPy-like random numbers whose key is threaded through the transforms as a state."""

from ._random import (DEFAULT, RandomState, bernoulli, choice, exponential, gamma,
                      get_key, normal, permutation, poisson, rand, randint, randn, random,
                      seed, set_key, shuffle, split_key, truncated_normal, uniform)
from ._random import __all__
