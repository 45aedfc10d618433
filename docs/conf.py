"""Sphinx configuration: MyST pages, tutorials executed by myst-nb, API from docstrings.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))            # document this checkout, installed or not
sys.path.insert(0, str(Path(__file__).parent / "_ext"))
# the notebook kernels inherit the environment: same checkout, inline figures
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
# tqdm.auto warns in a kernel without ipywidgets and then draws the text bar, which is
# what a static page shows anyway
os.environ["PYTHONWARNINGS"] = "ignore:IProgress not found"

import brainsim  # noqa: E402

project = "brainsim"
author = "the brainsim authors"
copyright = "2026, the brainsim authors"
release = version = brainsim.__version__

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "apicoverage",
    "figurecheck",
]
exclude_patterns = ["_build", "_ext", "**.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}

# MyST
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# myst-nb: run every tutorial on every build; a failing cell fails the build
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

# API reference
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False, "show-inheritance": False}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autoclass_content = "class"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False
napoleon_custom_sections = [("States", "params_style")]   # a neuron's HiddenStates

html_theme = "furo"
html_title = f"brainsim {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]


def _constant_docstring(app, what, name, obj, options, lines):
    """A module constant without a docstring of its own inherits its type's (``dict``'s);
    show its value instead."""
    from sphinx.util.docstrings import prepare_docstring
    own = type(obj).__doc__
    if what in ("data", "attribute") and own and \
            [x for x in lines if x.strip()] == [x for x in prepare_docstring(own) if x.strip()]:
        text = repr(obj)
        lines[:] = ["Value::", "", "    " + (text if len(text) < 300 else text[:300] + " ...")]


def setup(app):
    app.connect("autodoc-process-docstring", _constant_docstring, priority=100)
