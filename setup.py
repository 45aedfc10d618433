"""Build the optional XLA:CPU kernels of brainsim.event; all metadata lives in pyproject.toml.

The extension is ``optional``: without a C++17 compiler the install still succeeds and
brainsim.event uses its pure-JAX products. The XLA FFI headers come from jaxlib, which
pyproject.toml lists in ``[build-system] requires``.
"""
import os

from setuptools import Extension, setup


def _jaxlib_include():
    try:
        import jaxlib
    except ImportError:  # no jaxlib in the build env: the optional extension is skipped
        return None
    inc = os.path.join(os.path.dirname(jaxlib.__file__), "include")
    return inc if os.path.exists(os.path.join(inc, "xla", "ffi", "api", "ffi.h")) else None


_inc = _jaxlib_include()
ext_modules = [] if _inc is None else [
    Extension(
        "brainsim.event._kernels_cpu",
        sources=["brainsim/event/_kernels_cpu.cc", "brainsim/event/_kernels_dense.cc"],
        depends=["brainsim/event/_kernels_lanes.h"],
        include_dirs=[_inc],
        language="c++",
        extra_compile_args=["-O3", "-std=c++17", "-fvisibility=hidden"],
        optional=True,
    )
]

setup(ext_modules=ext_modules)
