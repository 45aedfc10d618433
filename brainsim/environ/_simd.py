"""The SIMD width that :func:`brainsim.jit` asks XLA:CPU to vectorise loops for.

Why it is set at all. XLA:CPU vectorises elementwise fusions for 256-bit registers even on a CPU
with AVX-512, so a neuron update does half the work per instruction that the machine allows.
The C++ floor of ``benchmarks/ei_network.py`` (``-march=native``) uses 512-bit registers and the
16-lane ``expf`` there. On the AMD EPYC (Zen 4) VM of ``benchmarks/RESULTS.md`` ("Dec 6 2026"),
512 took ``exp`` over 4,000 floats from 1.94 to 1.20 µs and the 4,000-neuron COBA network from
1.43-1.56x to 1.31-1.36x the floor, with the same spikes bit for bit.

Why per program, not through ``XLA_FLAGS``. The width goes to ``jax.jit`` as a compiler option
of each program brainsim compiles, so it touches no other JAX code of the process, can change at
any time, and a jaxlib that lacks the option refuses it with an error that brainsim catches
(an unknown ``XLA_FLAGS`` entry aborts the process instead).

Which CPUs get 512 by default: x86 CPUs whose ``/proc/cpuinfo`` lists AVX-512 and VBMI2 (Intel
Ice Lake and later, AMD Zen 4 and later). Earlier Intel AVX-512 parts (Skylake-X, Cascade Lake)
lower their clock under 512-bit code, which is why compilers default to 256 there; they keep
XLA's default, as does every other CPU and every system without ``/proc/cpuinfo`` (macOS,
Windows).
"""
from __future__ import annotations

import functools
import inspect
import platform

from .._checks import check_int

__all__ = ["set_cpu_vector_width", "get_cpu_vector_width"]

#: The XLA DebugOptions field, as jax.jit's ``compiler_options`` names it.
_OPTION = "xla_cpu_prefer_vector_width"
#: XLA:CPU's own default, what every program gets without the option.
_XLA_DEFAULT = 256
_WIDTHS = (128, 256, 512)

_chosen: list = [None]        # what set_cpu_vector_width chose; None: the default of this CPU
_refused: list = [False]      # this jaxlib does not know the option
#: Bumped on every change, so a compiled function knows to build its programs again.
generation: list = [0]


def _cpu_flags() -> set[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (empty where there is none)."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def default_width(machine: str, flags: set[str]) -> int:
    """The width brainsim compiles for on a CPU of this architecture and these feature flags."""
    if machine.lower() in ("x86_64", "amd64") and {"avx512f", "avx512_vbmi2"} <= flags:
        return 512
    return _XLA_DEFAULT


@functools.cache
def _default() -> int:
    return default_width(platform.machine(), _cpu_flags())


def get_cpu_vector_width() -> int:
    """The SIMD width in bits that programs compiled by :func:`brainsim.jit` are vectorised for.

    It is the width chosen with :func:`set_cpu_vector_width`, else 512 on Linux x86 CPUs
    with AVX-512 and VBMI2 (read from ``/proc/cpuinfo``) and 256 (XLA's own default)
    elsewhere. It is 256 with a jax whose ``jax.jit`` takes no ``compiler_options``, and once
    a jaxlib has refused the option at a compile. GPU programs ignore it.

    Examples
    --------
    >>> import brainsim
    >>> brainsim.environ.get_cpu_vector_width() in (128, 256, 512)
    True
    """
    if _refused[0]:
        return _XLA_DEFAULT
    return _chosen[0] if _chosen[0] is not None else _default()


def set_cpu_vector_width(bits: int | None) -> None:
    """Vectorise the CPU programs compiled from now on for ``bits``-wide SIMD registers.

    Functions already compiled by :func:`brainsim.jit` compile again at their next call.
    Elementwise results are the same at every width; a reduction may add in another order
    and so round differently in the last bit.

    Parameters
    ----------
    bits : {128, 256, 512} or None
        The register width; ``None`` restores the default of this CPU (see
        :func:`get_cpu_vector_width`). 512 on a CPU without AVX-512 compiles as 256.

    Raises
    ------
    TypeError
        If ``bits`` is not an integer or None.
    ValueError
        If ``bits`` is not one of 128, 256, 512 (nothing is changed).

    Examples
    --------
    >>> import brainsim
    >>> brainsim.environ.set_cpu_vector_width(300)
    Traceback (most recent call last):
    ...
    ValueError: set_cpu_vector_width: bits must be 128, 256 or 512, got 300. How to fix: pass 512 for AVX-512, 256 for AVX2, or None for the default of this CPU.
    """
    if bits is not None:
        bits = check_int("set_cpu_vector_width", "bits", bits, "an int or None", "512")
        if bits not in _WIDTHS:
            raise ValueError(f"set_cpu_vector_width: bits must be 128, 256 or 512, got {bits}. "
                             "How to fix: pass 512 for AVX-512, 256 for AVX2, or None for the "
                             "default of this CPU.")
    if bits != _chosen[0]:
        _chosen[0] = bits
        generation[0] += 1


@functools.cache
def _jit_takes_options() -> bool:
    import jax      # here, not at import: this module is imported before JAX is needed
    try:            # older jax.jit takes no compiler_options
        return "compiler_options" in inspect.signature(jax.jit).parameters
    except (TypeError, ValueError):
        return False


def compiler_options() -> dict:
    """The ``compiler_options`` for ``jax.jit``: empty where XLA's default is meant."""
    if not _refused[0] and not _jit_takes_options():
        _refused[0] = True
    width = get_cpu_vector_width()
    if _refused[0] or (_chosen[0] is None and width == _XLA_DEFAULT):
        return {}
    return {_OPTION: width}


def is_refusal(err: BaseException) -> bool:
    """Whether ``err`` is a jaxlib refusing the option (one that predates or dropped it)."""
    return _OPTION in str(err) and "No such compile option" in str(err)


def refuse() -> None:
    """Stop passing the option: this jaxlib does not know it."""
    _refused[0] = True
    generation[0] += 1
