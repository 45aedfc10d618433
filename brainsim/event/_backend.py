"""Choice between the pure-JAX products and the compiled XLA:CPU kernels.

The kernels (``_kernels_cpu``, a C++ extension built by ``pip install``) run the forward pass of
the event-driven product (and, for dense weights, its weight gradient) as one XLA FFI call: on
XLA:CPU a handful of microseconds instead of the tens that the jnp formulation spends in op
overheads. The pure-JAX path stays the reference, the
differentiation rules, and the fallback whenever the kernel cannot be used (extension missing,
non-CPU default backend, dtypes other than float32 weights with bool/float32 events, formats
without a kernel). The latency-input scatter and gather of brainsim.train follow the same choice.
"""
from __future__ import annotations

import os

import jax

__all__ = ["set_backend", "get_backend", "kernels_available", "use_kernel", "kernel_selected",
           "has_target"]

_CHOICES = ("auto", "jax", "cpu_kernel")
_ENV = "BRAINSIM_EVENT_BACKEND"
_state = {"backend": None, "registered": None, "targets": frozenset()}


def _check(name):
    if name not in _CHOICES:
        raise ValueError(f"event backend must be one of {_CHOICES}, got {name!r}; "
                         f"e.g. brainsim.event.set_backend('auto') (or set {_ENV})")
    return name


def set_backend(name: str) -> None:
    """Select how event-driven products run.

    Parameters
    ----------
    name : {'auto', 'jax', 'cpu_kernel'}
        ``'jax'``: always the pure-JAX products. ``'cpu_kernel'``: the compiled XLA:CPU kernel
        where it applies (raises ``RuntimeError`` if the extension is not built).
        ``'auto'`` (default, or the ``BRAINSIM_EVENT_BACKEND`` environment variable): the kernel
        when it is built and JAX's default backend is the CPU, else pure JAX.

    Notes
    -----
    The choice is read when a product is traced; already compiled functions keep theirs.

    Examples
    --------
    >>> import brainsim.event as ev
    >>> ev.set_backend('jax'); ev.get_backend()
    'jax'
    >>> ev.set_backend('auto')
    """
    name = _check(name)
    if name == "cpu_kernel" and not kernels_available():
        raise RuntimeError("brainsim.event: the compiled kernels are not built; reinstall with a "
                           "C++17 compiler (pip install .) or run `python setup.py build_ext --inplace`")
    _state["backend"] = name


def get_backend() -> str:
    """The selected backend name (``'auto'`` unless changed)."""
    if _state["backend"] is None:
        _state["backend"] = _check(os.environ.get(_ENV, "auto"))
    return _state["backend"]


# BRAINSIM_JITC_ISA=scalar makes the kernel draw JIT connectivity with its scalar form instead
# of the AVX2 one (the same matrix; for tests and timing). The library reads it when it loads.
_ISA_ENV = "BRAINSIM_JITC_ISA"
# BRAINSIM_DENSE_ISA=avx2 or =portable caps the form of the dense-weight kernel (_kernels_dense.cc)
# below the widest the CPU has (the same sums; for tests and timing).
_DENSE_ISA_ENV = "BRAINSIM_DENSE_ISA"


def kernels_available() -> bool:
    """True if the compiled extension imports and its FFI targets are registered."""
    if _state["registered"] is None:
        isa = os.environ.get(_ISA_ENV, "")
        if isa not in ("", "scalar"):
            raise ValueError(f"{_ISA_ENV}={isa!r} is not a form of the JITC kernel's draw: "
                             f"expected 'scalar' (or unset, for the AVX2 form where the CPU "
                             f"has it). How to fix: unset {_ISA_ENV} or set it to 'scalar'.")
        dense = os.environ.get(_DENSE_ISA_ENV, "")
        if dense not in ("", "avx2", "portable"):
            raise ValueError(f"{_DENSE_ISA_ENV}={dense!r} is not a form of the dense-weight "
                             f"kernel: expected 'avx2' or 'portable' (or unset, for the widest "
                             f"form the CPU has). How to fix: unset {_DENSE_ISA_ENV} or set it "
                             f"to one of those.")
        try:
            from . import _kernels_cpu
        except ImportError:
            _state["registered"] = False
        else:
            targets = _kernels_cpu.registrations()
            for name, capsule in targets.items():
                jax.ffi.register_ffi_target(name, capsule, platform="cpu")
            _state["registered"] = True
            _state["targets"] = frozenset(targets)
    return _state["registered"]


def has_target(name: str) -> bool:
    """Whether the built extension registers FFI target ``name`` (False for a stale build)."""
    return kernels_available() and name in _state["targets"]


def use_kernel(spec) -> bool:
    """Whether products with operator ``spec`` should use the kernel (read when tracing)."""
    if getattr(spec, "kernel_csr", None) is None and getattr(spec, "kernel_jitc", None) is None:
        return False
    return kernel_selected()


def kernel_selected() -> bool:
    """Whether the selected backend runs the compiled kernels now (read when tracing).

    Shared by every compiled kernel of brainsim (the event products, the latency input of
    brainsim.train), so that one ``set_backend`` choice governs them all.
    """
    b = get_backend()
    if b == "jax":
        return False
    if b == "cpu_kernel":
        return kernels_available()
    return kernels_available() and jax.default_backend() == "cpu"
