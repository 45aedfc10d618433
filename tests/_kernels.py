"""The module-level guard of the compiled-kernel tests: skip where no C++ compiler could have
built the optional extension, fail where one exists but the kernel is missing (a stale build)."""
from __future__ import annotations

import shutil

import pytest

from brainsim.event import _backend


def require_kernel(target: str | None = None) -> None:
    """Skip or fail the calling test module unless FFI target ``target`` (any, if None) is built."""
    ok = _backend.has_target(target) if target else _backend.kernels_available()
    if ok:
        return
    if shutil.which("c++") is None and shutil.which("g++") is None:
        pytest.skip("no C++ compiler on this machine, so the optional kernel cannot exist",
                    allow_module_level=True)
    pytest.fail(f"the compiled kernel {target or '(any)'} is not built although a compiler "
                f"exists; run `pip install -e .` or `python setup.py build_ext --inplace`",
                pytrace=False)
