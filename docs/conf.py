"""Sphinx configuration: user guide pages in Markdown (MyST), API reference from the numpydoc docstrings."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's mmsent, installed or not

import mmsent  # noqa: E402

project = "mmsent"
author = "the mmsent developers"
copyright = "the mmsent developers"
release = version = mmsent.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
templates_path = ["_templates"]

# One page per public name, from each package's __all__ (its lazy exports included).
autosummary_generate = True
autosummary_ignore_module_all = False
autodoc_typehints = "none"  # the docstrings say the types
# numpydoc lists the methods itself only if asked: the class template does it with autodoc.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

myst_heading_anchors = 3  # links such as missing.md#bad-input

html_theme = "alabaster"
html_title = f"mmsent {release}"
html_theme_options = {"description": "Text + image sentiment, scikit-learn native", "page_width": "1200px"}


def skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out scikit-learn's generated ``set_<method>_request`` methods: documented by scikit-learn."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def drop_type_docstrings(app, what, name, obj, options, lines):
    """A constant without a docstring of its own would show its type's (``tuple``, ``str``): show none."""
    if what == "data" and " ".join(lines).split() == (type(obj).__doc__ or "").split():
        lines.clear()


def setup(app):
    app.connect("autodoc-skip-member", skip_metadata_requests)
    app.connect("autodoc-process-docstring", drop_type_docstrings, priority=100)  # before numpydoc edits it
