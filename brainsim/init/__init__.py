"""Initializers for initial values and weights: ``Constant``, ``Normal``, ``Uniform``."""
from ._init import Constant, Initializer, Normal, Uniform, param

__all__ = ["Initializer", "Constant", "Normal", "Uniform", "param"]
