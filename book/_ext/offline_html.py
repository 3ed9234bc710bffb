"""A book that works offline with a clean browser console.

sphinx-thebe (always loaded by Jupyter Book 1) adds its configuration script twice, which throws
"Identifier 'THEBE_JS_URL' has already been declared", and points at unpkg.com; the book has no live code, so its
scripts are dropped from every page. The theme's colour mode is set explicitly (an unset mode logs an error).

Charts: every page loads one script, ``_static/oracle-charts.js``: Vega, Vega-Lite and Vega-Embed bundled by
vl-convert (a Python package, so no CDN and no npm) at the Vega-Lite version altair writes, plus a few lines that
draw each ``div.oracle-chart`` (oracle_core/pages/charts.py) as inline SVG with tooltips. The browser caches it, so
the libraries load once, not once per chart. It is an ES module, so its top-level names (``_``, ...) do not clash
with the theme's globals.

Downloads: the CSV files behind each page's charts sit in ``book/_static/data/``; pages link them as
``oracle-static:data/NAME`` and ``_static_links`` makes each link relative to its page.
"""

from __future__ import annotations

from pathlib import Path

CHARTS_JS = "oracle-charts.js"
_DRAW = """
window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;
function oracleCharts() {
  for (const box of document.querySelectorAll('div.oracle-chart')) {
    if (box.dataset.drawn) continue;
    box.dataset.drawn = 'pending';
    const spec = JSON.parse(box.querySelector('script[type="application/json"]').textContent);
    vegaEmbed(box.querySelector('.oracle-chart-view'), spec, {renderer: 'svg', actions: false})
      .then(() => { box.dataset.drawn = 'yes'; })
      .catch(e => { box.dataset.drawn = 'failed'; console.error('chart failed: ' + e); });
  }
}
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', oracleCharts);
else oracleCharts();
"""


def _drop_thebe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    keep = [s for s in scripts if "THEBE_JS_URL" not in str(getattr(s, "attributes", {}).get("body", ""))
            and not str(getattr(s, "filename", s)).endswith("sphinx-thebe.js")]
    scripts[:] = keep


def _static_links(app, pagename, templatename, context, doctree):
    """Downloads written by the book build (oracle_core/pages/downloads.py) are linked as ``oracle-static:NAME``;
    here each becomes the page's own relative path to ``_static/NAME``, whatever folder the page is in."""
    body = context.get("body")
    if body and "oracle-static:" in body:
        context["body"] = body.replace('href="oracle-static:', 'href="' + context["pathto"]("_static/", 1))


def _light_mode(app, config):
    config.html_context = {**(config.html_context or {}), "default_mode": "light"}


def _write_chart_script(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    import altair
    import vl_convert

    version = "v" + ".".join(altair.VEGALITE_VERSION.split(".")[:2])
    static = Path(app.outdir) / "_static"
    static.mkdir(parents=True, exist_ok=True)
    (static / CHARTS_JS).write_text(vl_convert.javascript_bundle(_DRAW, vl_version=version), encoding="utf-8")


def setup(app):
    app.connect("config-inited", _light_mode)
    app.connect("html-page-context", _drop_thebe, priority=900)
    app.connect("html-page-context", _static_links)
    app.connect("build-finished", _write_chart_script)
    app.add_js_file(CHARTS_JS, type="module")  # its top-level names stay out of the page's globals
    return {"parallel_read_safe": True, "parallel_write_safe": True}
