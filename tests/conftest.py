"""Strict test configuration: warnings are errors (pyproject), RNG seeded per test,
and global simulation settings restored after each test."""

import os
from pathlib import Path

import pytest

import brainsim
from brainsim.environ import _environ


@pytest.fixture(autouse=True)
def _fresh_environment():
    brainsim.random.seed(0)
    saved = dict(_environ._GLOBAL)
    yield
    _environ._GLOBAL.clear()
    _environ._GLOBAL.update(saved)
    _environ._refresh()


def shared_data_dir(name: str) -> Path:
    """Find ../shared/data/<name> beside the checkout (or $BRAINSIM_SHARED_DATA)."""
    env = os.environ.get("BRAINSIM_SHARED_DATA")
    candidates = [Path(env) / name] if env else []
    repo = Path(__file__).resolve().parents[1]
    candidates += [repo.parent / "shared" / "data" / name, Path("/work/shared/data") / name]
    for c in candidates:
        if c.is_dir():
            return c
    if os.environ.get("CI"):
        pytest.fail(f"shared data '{name}' not found in {candidates}")
    pytest.skip(f"shared data '{name}' not found")
