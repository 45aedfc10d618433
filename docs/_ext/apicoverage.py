"""Check that the API reference lists every public name of brainsim.

The reference pages (``docs/reference/api/*.md``) name objects in
``.. autosummary::`` blocks under a ``.. currentmodule::`` and document modules
with ``.. automodule::``. A public name is one in ``brainsim.__all__`` or in
the ``__all__`` of a public subpackage; it is covered when the pages list it
under its own module, or list the same object elsewhere (``brainsim.jit`` is
``brainsim.transforms.jit``), or, for a module, document that module.

As a Sphinx extension it warns once per missing name (an error under ``-W``);
``tests/test_docs.py`` calls :func:`missing_names` without building.
"""
from __future__ import annotations

import importlib
import pkgutil
import re
import types
from pathlib import Path

API_DIR = Path(__file__).resolve().parents[1] / "reference" / "api"


def documented_names(text: str) -> set[str]:
    """Fully qualified names that autosummary blocks and automodule directives in ``text`` list."""
    names: set[str] = set()
    current = None
    in_summary = False
    for line in text.splitlines():
        stripped = line.strip()
        if m := re.match(r"\.\. currentmodule:: *(\S+)", stripped):
            current, in_summary = m.group(1), False
        elif m := re.match(r"\.\. automodule:: *(\S+)", stripped):
            names.add(m.group(1))
            in_summary = False
        elif stripped.startswith(".. autosummary::"):
            in_summary = True
        elif in_summary:
            if stripped.startswith("```") or (stripped and not line.startswith(" ")):
                in_summary = False
            elif stripped and not stripped.startswith(":"):
                entry = stripped.lstrip("~")
                names.add(entry if current is None or entry.startswith(current + ".")
                          else f"{current}.{entry}")
    return names


def read_sources(api_dir: Path = API_DIR) -> str:
    return "\n".join(p.read_text() for p in sorted(api_dir.glob("*.md")))


def public_modules() -> list[types.ModuleType]:
    """``brainsim`` and each of its public subpackages and modules."""
    import brainsim
    mods = [brainsim]
    for info in pkgutil.iter_modules(brainsim.__path__):
        if not info.name.startswith("_"):
            mods.append(importlib.import_module(f"brainsim.{info.name}"))
    return mods


def _resolve(name: str):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def missing_names(text: str | None = None) -> list[str]:
    """Public names (``module.name``) that the reference ``text`` does not cover."""
    documented = documented_names(read_sources() if text is None else text)
    objects = {id(o) for o in map(_resolve, documented) if o is not None}
    missing = []
    for mod in public_modules():
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            fq = f"{mod.__name__}.{name}"
            covered = (fq in documented or id(obj) in objects
                       or (isinstance(obj, types.ModuleType) and obj.__name__ in documented))
            if not covered:
                missing.append(fq)
    return missing


def unresolved_names(text: str | None = None) -> list[str]:
    """Names the reference lists that do not exist (stale entries)."""
    documented = documented_names(read_sources() if text is None else text)
    return sorted(n for n in documented if _resolve(n) is None)


def _check(app):
    from sphinx.util import logging
    log = logging.getLogger(__name__)
    for name in missing_names():
        log.warning(f"API reference: public name {name} is not listed in docs/reference/api/")


def setup(app):
    app.connect("builder-inited", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
