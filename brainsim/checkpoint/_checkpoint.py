"""Checkpoints: every state of a model in one ``.npz`` file, units included.

Format: a NumPy ``.npz`` archive (a zip file, whose per-member CRC catches
corruption) with one array per pytree leaf, named ``"<path>#<leaf>"``, and a
member ``__meta__`` holding UTF-8 JSON: the format version, and per state
its leaf count and, per leaf, its shape, dtype and unit. Loading never uses
pickle (``allow_pickle=False``). A load first reads and checks everything,
then assigns, so a failed load leaves the model unchanged.

The ``.npy`` format only describes NumPy's own dtypes. Others are stored as
plain unsigned integers and described in the metadata: a dtype such as
bfloat16 as its bits (``"stored_as": "uint16"``), a typed PRNG key as its key
data (``"key_impl": "threefry2x32"``).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import socket
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
# The runner keeps a model's elapsed time on the model (see brainsim.runner); it is saved
# so that a run continued after loading sees the same t, hence the same inputs(t).
_CLOCK_ATTR = "_bs_time_ms"


def _clock_owners(target: Any) -> dict[str, Module]:
    """The modules whose runner clock a checkpoint of ``target`` carries, by name."""
    if isinstance(target, Module):
        return {"": target}
    if isinstance(target, Mapping):
        return {str(k): m for k, m in target.items() if isinstance(m, Module)}
    return {}


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


def _is_key(x: Any) -> bool:
    return jnp.issubdtype(getattr(x, "dtype", None), jax.dtypes.prng_key)


def _entry(leaf: Any) -> tuple[np.ndarray, dict]:
    """The array to store for one leaf, and its description for the metadata."""
    mant = leaf.mantissa if isinstance(leaf, u.Quantity) else leaf
    if _is_key(mant):
        arr = np.asarray(jax.random.key_data(mant))
        return arr, {"shape": list(mant.shape), "dtype": str(mant.dtype),
                     "unit": _unit_desc(leaf), "key_impl": str(jax.random.key_impl(mant))}
    arr = np.asarray(mant)
    desc = {"shape": list(arr.shape), "dtype": str(arr.dtype), "unit": _unit_desc(leaf)}
    if np.dtype(arr.dtype.str) != arr.dtype:
        # Not a NumPy dtype (bfloat16, float8...): the .npy header would call it
        # raw void bytes, so store the bits as unsigned integers of the same width.
        desc["stored_as"] = f"uint{8 * arr.dtype.itemsize}"
        arr = arr.view(np.dtype(desc["stored_as"]))
    return arr, desc


def _decode(arr: np.ndarray, desc: dict) -> Any | None:
    """The leaf value stored as ``arr`` under ``desc``; None if they disagree."""
    shape = tuple(desc["shape"])
    if "key_impl" in desc:
        if arr.dtype.kind != "u" or tuple(arr.shape[:len(shape)]) != shape:
            return None
        try:
            key = jax.random.wrap_key_data(jnp.asarray(arr), impl=desc["key_impl"])
        except (TypeError, ValueError):
            return None
        return key if str(key.dtype) == desc["dtype"] and key.shape == shape else None
    if arr.shape != shape:
        return None
    if "stored_as" in desc:
        if str(arr.dtype) != desc["stored_as"]:
            return None
        try:
            dtype = jnp.dtype(desc["dtype"])
        except TypeError:
            return None
        if dtype.itemsize != arr.dtype.itemsize:
            return None
        arr = arr.view(dtype)
    elif str(arr.dtype) != desc["dtype"]:
        return None
    return jnp.asarray(arr)


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def _temp_name(path: Path) -> Path:
    # The host and process id in the name let a later save tell an abandoned
    # temporary (its writer was killed) from one that is being written now.
    host = socket.gethostname().replace(".", "_").replace("-", "_")
    return path.parent / f"{_temp_prefix(path)}{host}-{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _remove_stale_temporaries(path: Path) -> None:
    """Delete temporaries of ``path`` left by saves on this host that were killed."""
    host = socket.gethostname().replace(".", "_").replace("-", "_")
    prefix = _temp_prefix(path)
    for entry in os.listdir(path.parent):
        if not entry.startswith(prefix):
            continue
        tmp = path.parent / entry
        parts = entry[len(prefix):].split("-")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                tmp.unlink()
            except FileNotFoundError:  # another save removed it first
                pass


def save_checkpoint(path: str | os.PathLike, model: Any, include_rng: bool = True) -> Path:
    """Save every state of ``model`` (units included) to ``path``.

    The runner's clock of ``model`` (of each module of a dict) is saved too, so
    that runs after :func:`load_checkpoint` continue from the saved time: the same
    ``res.t`` and the same ``inputs(t)`` as an uninterrupted run.

    Parameters
    ----------
    path : str or path-like
        The file to write (conventionally ``*.npz``). It is written to a
        temporary file beside it (``.<name>.tmp-<host>-<pid>-<token>``) and
        moved into place, so a crash never leaves a partial checkpoint; the
        next save to ``path`` deletes temporaries left by killed saves. The
        file's permissions follow the umask, like any other new file.
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
    meta["clocks_ms"] = {k: float(getattr(m, _CLOCK_ATTR, 0.))
                         for k, m in _clock_owners(model).items()}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    tmp = _temp_name(path)
    # os.open with mode 0o666 lets the umask decide the permissions, as for any
    # file the user creates (tempfile.mkstemp would force 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
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
    if not isinstance(meta, dict):
        raise CheckpointError(
            f"'{path}' is not a brainsim checkpoint: its metadata is a JSON "
            f"{type(meta).__name__}, expected a JSON object."
        )
    if meta.get("format") != _FORMAT or meta.get("version") != _VERSION:
        raise CheckpointError(
            f"'{path}' has format {meta.get('format')!r} version {meta.get('version')!r}; this "
            f"brainsim reads {_FORMAT!r} version {_VERSION}."
        )
    problem = _meta_problem(meta.get("states"))
    clocks = meta.get("clocks_ms", {})
    if not problem and not (isinstance(clocks, dict) and all(
            isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in clocks.values())):
        problem = f"'clocks_ms' is {clocks!r}, expected an object of non-negative times in ms"
    if problem:
        raise CheckpointError(f"Checkpoint '{path}' is corrupt: its metadata {problem}.")
    return meta, arrays


def _meta_problem(states: Any) -> str | None:
    """Why the ``states`` table of the metadata is malformed, or None."""
    if not isinstance(states, dict):
        return f"'states' is a {type(states).__name__}, expected an object"
    for name, entries in states.items():
        if not isinstance(entries, list):
            return f"entry '{name}' is a {type(entries).__name__}, expected a list"
        for desc in entries:
            if not (isinstance(desc, dict) and isinstance(desc.get("shape"), list)
                    and all(isinstance(n, int) and n >= 0 for n in desc["shape"])
                    and isinstance(desc.get("dtype"), str)
                    and (desc.get("unit") is None or isinstance(desc.get("unit"), dict))):
                return f"describes an array of '{name}' as {desc!r}"
    return None


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

    The runner's clock is restored with the states: the next ``Runner.run`` or
    ``brainsim.run`` continues from the time at which the checkpoint was saved.

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
            value = _decode(arrays[key], desc)
            if value is None:
                raise CheckpointError(
                    f"Checkpoint '{path}' is corrupt: array '{key}' does not match its metadata."
                )
            _, want = _entry(old)
            if desc != want:
                problems.append(_difference(desc, want))
                continue
            leaves.append(u.Quantity(value, unit=old.unit) if isinstance(old, u.Quantity)
                          else value)
        if problems:
            mismatched.append(f"{name}: " + "; ".join(problems))
        else:
            try:
                new_values[name] = state._checked(jax.tree_util.tree_unflatten(treedef, leaves))
            except ValueError as err:
                mismatched.append(f"{name}: {err}")
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
    # Every value was checked above, so assigning cannot fail half-way.
    for name, value in new_values.items():
        states[name].value = value
    # The clock goes with the states: runs after the load continue from the saved time.
    # (A file without clocks leaves them as they are.)
    clocks = meta.get("clocks_ms")
    if clocks is not None:
        for name, module in _clock_owners(model).items():
            if clocks.get(name, 0.) > 0:
                object.__setattr__(module, _CLOCK_ATTR, float(clocks[name]))
            else:
                module.__dict__.pop(_CLOCK_ATTR, None)


def _difference(saved: dict, want: dict) -> str:
    out = []
    if saved["shape"] != want["shape"]:
        out.append(f"shape {tuple(saved['shape'])} saved vs {tuple(want['shape'])} in model")
    if saved["dtype"] != want["dtype"]:
        out.append(f"dtype {saved['dtype']} saved vs {want['dtype']} in model")
    if saved.get("key_impl") != want.get("key_impl"):
        out.append(f"PRNG key implementation {saved.get('key_impl')} saved vs "
                   f"{want.get('key_impl')} in model")
    if saved["unit"] != want["unit"]:
        su = saved["unit"]["repr"] if saved["unit"] else "dimensionless"
        wu = want["unit"]["repr"] if want["unit"] else "dimensionless"
        out.append(f"unit {su} saved vs {wu} in model")
    return ", ".join(out) or f"saved as {saved} vs {want} in model"
