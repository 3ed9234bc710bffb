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
const NARROW = 600;   // below this column width (a phone), panels stack one per row at the column's width
const CHAR_PX = 6.2;  // about one character of the 10-11 px chart text, for re-wrapping titles
function wrap(text, chars) {
  const out = [];
  for (const line of [].concat(text)) {
    let cur = '';
    for (const word of String(line).split(' ')) {
      if (cur && (cur + ' ' + word).length > chars) { out.push(cur); cur = word; } else cur = cur ? cur + ' ' + word : word;
    }
    out.push(cur);
  }
  return out;
}
// A chart spec laid out for a column ``avail`` px wide: rows of panels become one panel per row, each view's width
// at most what is left beside its axis, and titles and subtitles wrapped to the column (text keeps its size).
function narrowed(spec, avail, shrink) {
  const chars = Math.max(20, Math.floor((avail - 12) / CHAR_PX));
  let categories = 0;  // the most categories of a broken-label axis seen below the node being laid out
  let offsets = 1;  // the most sub-rows (yOffset categories) a category row is split into anywhere in the chart
  const countOffsets = node => {
    if (!node || typeof node !== 'object') return;
    const off = node.encoding && node.encoding.yOffset;
    if (off && off.scale && Array.isArray(off.scale.domain)) offsets = Math.max(offsets, off.scale.domain.length);
    for (const k of ['vconcat', 'hconcat', 'concat', 'layer']) for (const c of node[k] || []) countOffsets(c);
    if (node.spec) countOffsets(node.spec);
  };
  const walk = node => {
    if (!node || typeof node !== 'object') return;
    if (node.hconcat) { node.vconcat = node.hconcat; delete node.hconcat; }
    if (node.columns) node.columns = 1;
    let split = false;
    const outer = categories;
    categories = 0;
    for (const k of ['vconcat', 'concat', 'layer']) for (const c of node[k] || []) split = walk(c) || split;
    if (node.spec) split = walk(node.spec) || split;
    // a category axis whose labels read "model / dataset / layers": one part per line, rows tall enough for three
    for (const ch of ['x', 'y']) {
      const enc = node.encoding && node.encoding[ch];
      if (!enc || enc.type !== 'nominal' || !enc.axis || !(enc.axis.labelLimit > avail * 0.4)) continue;
      enc.axis.labelExpr = "split(datum.label, ' / ')";
      enc.axis.labelLimit = Math.floor(avail * 0.4);
      split = true;
    }
    // a category y axis with long labels in its sort order ("ours, released code's wiring (network 1)"): broken
    // after each comma and before each parenthesis, the view tall enough for three lines a category
    const enc = node.encoding && node.encoding.y;
    if (enc && enc.type === 'nominal' && Array.isArray(enc.sort) && !(enc.axis && enc.axis.labelExpr) &&
        enc.sort.some(l => String(l).length * CHAR_PX > avail * 0.4)) {
      enc.axis = {...(enc.axis || {}), labelExpr: "split(replace(replace(datum.label, ', ', ',|'), ' (', '|('), '|')",
                  labelLimit: Math.floor(avail * 0.45)};
      categories = Math.max(categories, enc.sort.length);
      split = true;
    }
    // the step is per sub-row where a row is split by yOffset: the whole row gets the 40 px
    if (split && node.height && node.height.step) node.height.step = Math.max(node.height.step, Math.ceil(40 / offsets));
    if (split && typeof node.height === 'number' && categories) node.height = Math.max(node.height, categories * 40);
    categories = Math.max(outer, categories);
    // a legend beside the plot takes the width the plot needs: below it, in two columns
    for (const enc of Object.values(node.encoding || {})) {
      if (!enc || typeof enc !== 'object' || enc.legend === null) continue;
      const lg = enc.legend || {};
      if (!lg.orient || ['right', 'left'].includes(lg.orient)) enc.legend = {...lg, orient: 'bottom', columns: 2};
    }
    if (typeof node.width === 'number') node.width = Math.max(120, Math.min(node.width, avail - 90) - shrink);
    if (node.title) {
      const t = typeof node.title === 'object' && !Array.isArray(node.title) ? node.title : {text: node.title};
      if (t.text) t.text = wrap(t.text, Math.floor(chars * 0.8));  // the title's font is larger
      if (t.subtitle) t.subtitle = wrap(t.subtitle, chars);
      node.title = t;
    }
    return split;
  };
  const s = JSON.parse(JSON.stringify(spec));
  countOffsets(s);
  walk(s);
  return s;
}
async function draw(box) {
  const view = box.querySelector('.oracle-chart-view');
  const spec = JSON.parse(box.querySelector('script[type="application/json"]').textContent);
  const avail = box.getBoundingClientRect().width;
  if (!(avail > 0 && avail < NARROW)) return vegaEmbed(view, spec, {renderer: 'svg', actions: false});
  // drawn, measured, and drawn again narrower while its axis labels or legend still push it past the column
  let shrink = 0, out;
  for (let i = 0; i < 4; i++) {
    if (out) out.finalize();
    out = await vegaEmbed(view, narrowed(spec, avail, shrink), {renderer: 'svg', actions: false});
    const svg = view.querySelector('svg.marks');
    const over = svg ? svg.width.baseVal.value - avail : 0;
    if (over <= 0) break;
    shrink += Math.ceil(over) + 2;
  }
  box.dataset.narrow = 'yes';
  return out;
}
function oracleCharts() {
  for (const box of document.querySelectorAll('div.oracle-chart')) {
    if (box.dataset.drawn) continue;
    box.dataset.drawn = 'pending';
    draw(box)
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
