"""Event-driven operators: spike containers, sparse/just-in-time connectivity and their products.

Products cost in proportion to the active inputs and the synapses they touch, give the dense
result, and are differentiable w.r.t. the weights and the float operand.
"""
from ._backend import get_backend, kernels_available, set_backend
from ._binary import BinaryArray, BitPackedBinary, CompactBinary, pack, unpack
from ._csr import CSC, CSR
from ._jitc import (JITCNormalC, JITCNormalR, JITCScalarC, JITCScalarR, JITCUniformC,
                    JITCUniformR)
from ._random import random_conn
from ._fixed import FixedNumPerPost, FixedNumPerPre

__all__ = ["BinaryArray", "BitPackedBinary", "CompactBinary", "pack", "unpack", "CSR", "CSC",
           "FixedNumPerPre", "FixedNumPerPost",
           "JITCScalarR", "JITCScalarC", "JITCNormalR", "JITCNormalC", "JITCUniformR", "JITCUniformC",
           "random_conn", "set_backend", "get_backend", "kernels_available"]
