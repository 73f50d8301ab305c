"""Sphinx configuration for numbarnn's documentation.

Build (offline, warnings as errors, about a minute once the kernels are
cached on disk):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The tutorials run during the build (matplotlib's ``plot`` directive) and
embed their figures; nothing is downloaded (no intersphinx, no remote
images; equations are plain text).
"""
import os
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)  # the source tree's numbarnn, installed or not
sys.path.insert(0, os.path.join(DOCS, "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")

import numbarnn  # noqa: E402

project = "numbarnn"
author = "the numbarnn developers"
copyright = "the numbarnn developers"
version = release = numbarnn.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
    "benchtables",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_data", "_generated", "_ext", "Thumbs.db", ".DS_Store"]
myst_heading_anchors = 3
suppress_warnings = ["myst.header"]

# API reference: autodoc + numpydoc; class members are listed by autodoc.
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"
autosummary_generate = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# Tutorials: executed at build time, figures embedded.
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_working_directory = DOCS
plot_rcparams = {"figure.figsize": (7.0, 3.6), "figure.dpi": 90, "axes.grid": True,
                 "grid.alpha": 0.3}
plot_pre_code = "import numpy as np\nimport matplotlib.pyplot as plt\n"

html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Fast, exact sequence models for time series on Numba",
                      "fixed_sidebar": True, "page_width": "1100px"}
highlight_language = "none"
