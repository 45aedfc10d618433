"""After the build, check that every tutorial's executed notebook shows a figure.

myst-nb writes each executed notebook to ``<build dir>/jupyter_execute``; a
tutorial whose outputs hold no ``image/png`` (a figure displayed as
``<Figure ...>`` text, or none at all) gets a warning, an error under ``-W``.
"""
from __future__ import annotations

import json
from pathlib import Path

PREFIX = "tutorials/"


def pages_without_figures(executed: Path, docnames) -> list[str]:
    bad = []
    for doc in sorted(d for d in docnames if d.startswith(PREFIX)):
        nb = executed / f"{doc}.ipynb"
        if not nb.is_file():
            bad.append(f"{doc} (not executed)")
            continue
        outputs = [o for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"
                   for o in c.get("outputs", [])]
        if not any("image/png" in o.get("data", {}) for o in outputs):
            bad.append(doc)
    return bad


def _check(app, exception):
    if exception is not None or app.builder.name != "html":
        return
    from sphinx.util import logging
    executed = Path(app.outdir).parent / "jupyter_execute"
    for doc in pages_without_figures(executed, app.env.found_docs):
        logging.getLogger(__name__).warning(f"tutorial {doc} shows no figure")


def setup(app):
    app.connect("build-finished", _check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
