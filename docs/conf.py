"""Sphinx configuration for the minicontainer documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "minicontainer"
author = "the minicontainer authors"
copyright = "2026, the minicontainer authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.graphviz",
    "sphinxarg.ext",
    "profile_table",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build"]
html_theme = "furo"
html_title = "minicontainer"
graphviz_output_format = "svg"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Every cross-reference must resolve: a broken link inside the site fails the build.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:class", r"(socket\.socket|tarfile\..*|.*Namespace|ffi\..*|OSError|.*\.IdMapping)"),
    (r"py:class", r"subprocess\..*"),
]
