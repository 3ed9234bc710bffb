"""A book that works offline with a clean browser console.

sphinx-thebe (always loaded by Jupyter Book 1) adds its configuration script twice, which throws
"Identifier 'THEBE_JS_URL' has already been declared", and points at unpkg.com; the book has no live code, so its
scripts are dropped from every page. The theme's colour mode is set explicitly (an unset mode logs an error).
"""

from __future__ import annotations


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = [s for s in scripts if "THEBE_JS_URL" not in str(getattr(s, "attributes", {}).get("body", ""))
            and not str(getattr(s, "filename", s)).endswith("sphinx-thebe.js")]
    scripts[:] = keep


def _light_mode(app, config):
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def setup(app):
    app.connect("config-inited", _light_mode)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
