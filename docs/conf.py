"""Sphinx configuration of the skscratch documentation.

Build with ``make -C docs html`` (CI adds ``SPHINXOPTS="-W --keep-going"``:
any warning fails the build). Nothing here needs the network: intersphinx is
off, because CI only reaches package registries.
"""

import os
import re
import sys
from pathlib import Path

import skscratch

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS.parent))

project = "skscratch"
author = "the skscratch developers"
copyright = "skscratch developers, BSD-3-Clause"
version = release = skscratch.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

# Only reStructuredText pages; Markdown is read solely where a page includes
# it explicitly (the benchmark table in _includes/).
source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "_includes", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
root_doc = "index"
default_role = "literal"

# -- API reference --------------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"
# Method tables would need a stub page per method; the class template below
# documents the methods on the class's own page instead.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# The docstrings mention types in prose ("ndarray of shape (n, k)"), which
# numpydoc would otherwise try to turn into cross-references.
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# A reference that does not resolve is a warning only with nitpicky; the
# docstrings name scikit-learn and NumPy objects, which without intersphinx
# (no network in CI) have nothing to resolve to, so it stays off.
nitpicky = False

# -- examples gallery -----------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # Run every plot_*.py except the MNIST ones: they need the MNIST files and
    # minutes of training, so the gallery shows them without output.
    "filename_pattern": re.escape(os.sep) + r"plot_(?!mnist)",
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    # A failing example must fail the build, not become a broken thumbnail.
    "only_warn_on_example_error": False,
    "abort_on_example_error": True,
    # Timings depend on the machine: leave them out of the pages.
    "write_computation_times": False,
}

# -- HTML -----------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skscratch {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}
html_show_sourcelink = False
# _static/skscratch.css: wrap long lines of code instead of cutting them off,
# and let the article use the width of the window.
html_static_path = ["_static"]
html_css_files = ["skscratch.css"]

# -- generated pages --------------------------------------------------------------


def _write_cli_help(app):
    """Write ``python -m skscratch --help`` for cli.rst to include."""
    from skscratch.cli import build_parser

    # argparse wraps to the terminal width; fix it so the page is stable.
    os.environ["COLUMNS"] = "88"
    target = DOCS / "gen_modules" / "cli_help.txt"
    target.parent.mkdir(exist_ok=True)
    target.write_text(build_parser().format_help())


def _skip_metadata_request_methods(app, what, name, obj, skip, options):
    """Leave out ``set_fit_request`` and co.: scikit-learn generates them on
    every estimator for metadata routing, and their docstrings point into
    scikit-learn's own documentation."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("builder-inited", _write_cli_help)
    app.connect("autodoc-skip-member", _skip_metadata_request_methods)
