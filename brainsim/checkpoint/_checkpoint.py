"""Checkpoints: every state of a model in one ``.npz`` file, units included.

Format: a NumPy ``.npz`` archive (a zip file, whose per-member CRC catches
corruption) with one array per pytree leaf, named ``"<path>#<leaf>"``, and a
member ``__meta__`` holding UTF-8 JSON: the format version, and per state
its leaf count and, per leaf, its shape, dtype and unit. Loading never uses
pickle (``allow_pickle=False``). A load first reads and checks everything,
then assigns, so a failed load leaves the model unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import brainunit as u
import jax
import jax.numpy as jnp
import numpy as np

from .._errors import CheckpointError
from .._module import Module
from .._state import State, _is_quantity
from ..random import _random

__all__ = ["save_checkpoint", "load_checkpoint"]

_FORMAT = "brainsim-checkpoint"
_VERSION = 1
_RNG_PATH = "__brainsim_random__"


def _collect(target: Any, include_rng: bool) -> dict[str, State]:
    if isinstance(target, Module):
        states = dict(target.states())
    elif isinstance(target, State):
        states = {"state": target}
    elif isinstance(target, Mapping):
        states = {}
        for name, item in target.items():
            if isinstance(item, State):
                states[str(name)] = item
            elif isinstance(item, Module):
                states.update({f"{name}.{p}": s for p, s in item.states().items()})
            else:
                raise TypeError(
                    f"checkpoint target[{name!r}] is a {type(item).__name__}; expected a "
                    "brainsim.Module or State."
                )
    else:
        raise TypeError(
            f"Expected a brainsim.Module, a State, or a dict of them to checkpoint; got "
            f"{type(target).__name__}."
        )
    if include_rng:
        states[_RNG_PATH] = _random.DEFAULT
    return states


def _unit_desc(leaf: Any) -> Any:
    if not isinstance(leaf, u.Quantity):
        return None
    unit = leaf.unit
    return {"repr": str(unit), "dim": [float(d) for d in np.asarray(unit.dim._dims)],
            "scale": float(unit.scale), "factor": float(unit.factor), "base": float(unit.base)}


def _leaves(value: Any) -> list[Any]:
    return jax.tree_util.tree_leaves(value, is_leaf=_is_quantity)


def _entry(leaf: Any) -> tuple[np.ndarray, dict]:
    mant = leaf.mantissa if isinstance(leaf, u.Quantity) else leaf
    arr = np.asarray(mant)
    return arr, {"shape": list(arr.shape), "dtype": str(arr.dtype), "unit": _unit_desc(leaf)}


def save_checkpoint(path: str | os.PathLike, model: Any, include_rng: bool = True) -> Path:
    """Save every state of ``model`` (units included) to ``path``.

    Parameters
    ----------
    path : str or path-like
        The file to write (conventionally ``*.npz``). It is written to a
        temporary file first and moved into place, so a crash never leaves a
        partial checkpoint.
    model : Module, State, or dict of them
        What to save; a dict such as ``{'model': net, 'opt': optimizer}``
        saves several modules in one file.
    include_rng : bool
        Also save the global :mod:`brainsim.random` key, so that a run that
        draws random numbers continues identically after loading.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    path = Path(path)
    states = _collect(model, include_rng)
    arrays: dict[str, np.ndarray] = {}
    meta: dict[str, Any] = {"format": _FORMAT, "version": _VERSION, "states": {}}
    for name, state in states.items():
        entries = []
        for k, leaf in enumerate(_leaves(state.value)):
            arr, desc = _entry(leaf)
            arrays[f"{name}#{k}"] = arr
            entries.append(desc)
        meta["states"][name] = entries
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _read(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    if not path.exists():
        raise CheckpointError(f"No checkpoint file at '{path}'.")
    try:
        # Our own file handle: np.load leaks its handle when the archive is damaged.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as err:
        raise CheckpointError(
            f"Checkpoint '{path}' is truncated or corrupt and cannot be read ({err}). "
            "Nothing was loaded; the model is unchanged. Use another checkpoint or save again."
        ) from None
    except Exception as err:  # zlib and struct errors from damaged archives
        raise CheckpointError(
            f"Checkpoint '{path}' is corrupt ({type(err).__name__}: {err}). Nothing was loaded."
        ) from None
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except (KeyError, ValueError, UnicodeDecodeError):
        raise CheckpointError(
            f"'{path}' is not a brainsim checkpoint (its metadata is missing or unreadable)."
        ) from None
    if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
        raise CheckpointError(
            f"'{path}' has format {meta.get('format')!r} version {meta.get('version')!r}; this "
            f"brainsim reads {_FORMAT!r} version {_VERSION}."
        )
    return meta, arrays


def load_checkpoint(path: str | os.PathLike, model: Any, include_rng: bool = True) -> None:
    """Restore every state of ``model`` from ``path``, exactly.

    Parameters
    ----------
    path : str or path-like
        A file written by :func:`save_checkpoint`.
    model : Module, State, or dict of them
        The same structure that was saved.
    include_rng : bool
        Also restore the global random key when the file has it.

    Raises
    ------
    brainsim.errors.CheckpointError
        If the file is missing, truncated or corrupt, or if its states do not
        match the model's; the message lists the missing, extra and
        mismatched paths. The model is left unchanged.
    """
    path = Path(path)
    meta, arrays = _read(path)
    states = _collect(model, include_rng)
    saved = meta["states"]
    if include_rng and _RNG_PATH not in saved:
        states.pop(_RNG_PATH)
    missing = [p for p in states if p not in saved]
    extra = [p for p in saved if p not in states and p != _RNG_PATH]
    mismatched, new_values = [], {}
    for name, state in states.items():
        if name not in saved:
            continue
        old_leaves, treedef = jax.tree_util.tree_flatten(state.value, is_leaf=_is_quantity)
        entries = saved[name]
        if len(entries) != len(old_leaves):
            mismatched.append(f"{name}: {len(entries)} arrays saved, the model has "
                              f"{len(old_leaves)}")
            continue
        leaves, problems = [], []
        for k, (old, desc) in enumerate(zip(old_leaves, entries)):
            key = f"{name}#{k}"
            if key not in arrays:
                raise CheckpointError(f"Checkpoint '{path}' is corrupt: array '{key}' is missing.")
            arr = arrays[key]
            _, want = _entry(old)
            if list(arr.shape) != desc["shape"] or str(arr.dtype) != desc["dtype"]:
                raise CheckpointError(
                    f"Checkpoint '{path}' is corrupt: array '{key}' does not match its metadata."
                )
            if desc != want:
                problems.append(_difference(desc, want))
                continue
            value = jnp.asarray(arr)
            leaves.append(u.Quantity(value, unit=old.unit) if isinstance(old, u.Quantity)
                          else value)
        if problems:
            mismatched.append(f"{name}: " + "; ".join(problems))
        else:
            new_values[name] = jax.tree_util.tree_unflatten(treedef, leaves)
    if missing or extra or mismatched:
        lines = [f"Checkpoint '{path}' does not match the model; nothing was loaded."]
        if missing:
            lines.append(f"  missing from the file ({len(missing)}): {missing}")
        if extra:
            lines.append(f"  in the file but not in the model ({len(extra)}): {extra}")
        if mismatched:
            lines.append(f"  mismatched ({len(mismatched)}):")
            lines.extend(f"    {m}" for m in mismatched)
        lines.append("How to fix: load into a model built with the same structure and sizes "
                     "(call init_states with the same batch_size before loading).")
        raise CheckpointError("\n".join(lines))
    for name, value in new_values.items():
        states[name].value = value


def _difference(saved: dict, want: dict) -> str:
    out = []
    if saved["shape"] != want["shape"]:
        out.append(f"shape {tuple(saved['shape'])} saved vs {tuple(want['shape'])} in model")
    if saved["dtype"] != want["dtype"]:
        out.append(f"dtype {saved['dtype']} saved vs {want['dtype']} in model")
    if saved["unit"] != want["unit"]:
        su = saved["unit"]["repr"] if saved["unit"] else "dimensionless"
        wu = want["unit"]["repr"] if want["unit"] else "dimensionless"
        out.append(f"unit {su} saved vs {wu} in model")
    return ", ".join(out)
