"""The published book in a real browser: Debian's headless Chromium opens every page from a localhost server,
with every request that would leave the machine blocked and recorded.

Chromium comes from Debian's packages (`apt-get install chromium`, done by .ci/run); Playwright only drives it
(no browser is downloaded). Without /usr/bin/chromium these tests fail with the install command.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import REPO

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
# flags the machine's closed network needs (no background calls to Google's services), and root needs no sandbox
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = REPO / "_build" / "test-artifacts"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture(scope="module")
def browser():
    assert Path(CHROMIUM).is_file(), "Debian's Chromium is missing: apt-get install -y chromium (.ci/run does this)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _serve(folder: Path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _pages(html: Path) -> list[str]:
    skip = {"genindex.html", "search.html", "index.html"}  # index.html is a redirect to the front page
    return sorted(str(p.relative_to(html)) for p in html.rglob("*.html")
                  if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)


# What a reader must never meet, read off each page after its charts are drawn: a chart that failed, chart text
# under 9 px once the chart is scaled to the column, anything wider than the main column, a table cell cut with
# "...", a code input shown on a page, an absolute path of the build machine.
PAGE_JS = r"""async () => {
  const art = document.querySelector('.bd-article') || document.querySelector('main') || document.body;
  const edge = art.getBoundingClientRect().right + 1;
  const out = {charts: 0, failed: [], overflow: [], small: [], dots: [], code: [], abspath: [],
               rerun: !!document.querySelector('.oracle-rerun pre') &&
                      !!document.querySelector('.oracle-rerun a[href*="arxiv.org"]'),
               csv: document.querySelectorAll('.oracle-downloads a[href$=".csv"]').length, boxes: 0, narrow: 0};
  // every chart drawn (the book's scripts draw them after load)
  const boxes = [...document.querySelectorAll('div.oracle-chart')];
  for (let i = 0; i < 200 && boxes.some(b => !['yes', 'failed'].includes(b.dataset.drawn)); i++)
    await new Promise(r => setTimeout(r, 50));
  // what a click opens (the collapsed full tables) is measured open, as a reader who clicks sees it
  for (const d of art.querySelectorAll('.cell_output details')) d.open = true;
  out.boxes = boxes.length;
  out.narrow = boxes.filter(b => b.dataset.narrow === 'yes').length;
  for (const b of boxes) {
    const svg = b.querySelector('svg.marks');
    if (b.dataset.drawn === 'yes' && svg && svg.querySelector('path, circle, rect')) out.charts++;
    else out.failed.push(b.dataset.drawn || 'never');
  }
  const imgs = [...document.querySelectorAll('.cell_output img')].filter(i => i.src.endsWith('.svg'));
  for (const i of imgs) { if (i.complete && i.naturalWidth > 0) out.charts++; else out.failed.push(i.src); }
  // text in a chart: its font size after the chart is scaled to the column
  for (const svg of document.querySelectorAll('div.oracle-chart svg.marks')) {
    const scale = svg.getBoundingClientRect().width / svg.width.baseVal.value;
    for (const t of svg.querySelectorAll('text')) {
      const px = parseFloat(getComputedStyle(t).fontSize) * scale;
      if (t.textContent.trim() && px < 9) {
        out.small.push(`${t.textContent.slice(0, 30)} (${px.toFixed(1)} px)`);
        break;
      }
    }
  }
  // anything visible wider than the main column
  for (const el of art.querySelectorAll('table, svg.marks, img, pre, p, h1, h2, h3, div.cell_output > div')) {
    const r = el.getBoundingClientRect();
    if (el.checkVisibility({contentVisibilityAuto: true}) && r.width > 0 && r.right > edge)
      out.overflow.push(`${el.tagName.toLowerCase()} ${Math.round(r.right - edge)} px past the column`);
  }
  for (const td of art.querySelectorAll('td, th')) {
    const s = td.textContent.trim();
    if (s.endsWith('...') || s.endsWith('…')) out.dots.push(s.slice(-40));
  }
  for (const c of art.querySelectorAll('.cell_input')) {
    if (c.checkVisibility({contentVisibilityAuto: true, opacityProperty: true, visibilityProperty: true}))
      out.code.push(c.textContent.trim().slice(0, 40));
  }
  const m = art.innerText.match(/(^|[\s"'`(])\/(work|home|tmp|root|Users|private|var\/folders)\/[\w.-]+/g);
  if (m) out.abspath = m.slice(0, 3);
  return out;
}"""

# the centres of the first per-mask points of the page's first scatter (vega draws each as a path in g.mark-symbol)
POINTS_JS = r"""() => {
  const first = document.querySelector('div.oracle-chart g.mark-symbol.role-mark path');
  if (!first) return [];
  first.scrollIntoView({block: 'center'});  // the point itself: a tall chart's first row may be off screen
  return [...first.closest('g.mark-symbol.role-mark').querySelectorAll('path')].slice(0, 12).map(p => {
    const r = p.getBoundingClientRect();
    return [r.x + r.width / 2, r.y + r.height / 2];
  });
}"""


def _tooltip(page) -> str:
    """Move the real mouse over per-mask points until vega-tooltip shows one; its text, or ''."""
    for x, y in page.evaluate(POINTS_JS):
        page.mouse.move(x - 40, y - 40)
        page.mouse.move(x, y, steps=4)
        page.wait_for_timeout(150)
        tip = page.evaluate("() => { const t = document.getElementById('vg-tooltip-element');"
                            " return t && t.classList.contains('visible') ? t.innerText : ''; }")
        if tip:
            return tip
    return ""


def check_book(browser, html: Path, screenshot: Path | None = None, hover: tuple[str, ...] = (),
               width: int = 1400) -> dict[str, dict]:
    """Open every page ``width`` px wide (1400: a desktop; 390: a phone); return {page: what PAGE_JS read off it
    (charts drawn, re-run box, CSV links)}.
    Fails on a console error, a page error, a request that leaves 127.0.0.1 or answers 4xx/5xx, or anything PAGE_JS
    finds; on the ``hover`` pages, a per-mask point must show its tooltip."""
    assert _pages(html), f"no page to check in {html}"  # a checker that opened nothing would pass anything
    server, base = _serve(html)
    outside, console, charts, problems = [], [], {}, []
    try:
        ctx = browser.new_context(viewport={"width": width, "height": 1000})

        def route(r):
            host = urlparse(r.request.url).hostname
            if r.request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                return r.continue_()
            outside.append(r.request.url)
            return r.abort()

        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("console", lambda m: console.append(f"{page.url}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: console.append(f"{page.url}: {e}"))
        page.on("response", lambda r: console.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        for rel in _pages(html):
            page.goto(f"{base}/{rel}", wait_until="load")
            st = page.evaluate(PAGE_JS)
            for key, what in (("failed", "charts that did not render"), ("small", "chart text under 9 px"),
                              ("overflow", "wider than the main column"), ("dots", 'table cells cut with "..."'),
                              ("code", "code inputs shown"), ("abspath", "absolute paths of the build machine")):
                if st[key]:
                    problems.append(f"{rel}: {what}: {st[key][:3]}")
            charts[rel] = st
            if rel in hover:
                tip = _tooltip(page)
                if not tip or "rank after retraining" not in tip:
                    problems.append(f"{rel}: hovering a point shows no tooltip ({tip!r})")
            if screenshot is not None:
                screenshot.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot / (rel.replace("/", "_") + ".png")), full_page=width > 600)
        ctx.close()
    finally:
        server.shutdown()
    assert not outside, f"requests that would leave the machine: {outside[:5]}"
    assert not problems, "\n".join(problems)
    assert not console, f"console errors: {console[:5]}"
    return charts


def _figure_pages(charts: dict[str, dict], html: Path) -> list[str]:
    """Pages that must show a chart: every figure page, except one with nothing to draw (no stored run of its
    setting and no published points for it: the ViT page until a GPU run exists), read off the executed
    notebook's outputs (``html`` is <dest>/_build/html; the notebooks are in <dest>/book)."""
    def nothing_to_draw(page: str) -> bool:
        nb = json.loads((html.parent.parent / "book" / page.replace(".html", ".ipynb")).read_text())
        text = " ".join("".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"]
                        for o in c.get("outputs", []))
        return "not in the results store yet" in text and "published no scatter panel" in text

    return [p for p in charts if (p.startswith("experiments/") or p in ("intro.html", "summary.html"))
            and not nothing_to_draw(p)]


def test_smoke_book_every_page_renders_offline_with_charts(browser, smoke_book):
    dest, _ = smoke_book
    shots = ARTIFACTS / "smoke"
    charts = check_book(browser, dest / "_build" / "html", shots, hover=("experiments/lenet_mnist.html",))
    assert "intro.html" in charts and "experiments/lenet_grid.html" in charts
    pages = _figure_pages(charts, dest / "_build" / "html")
    assert "experiments/resnet_cifar.html" in pages  # the paper's points are drawn even before our run exists
    for page in pages:
        assert charts[page]["charts"] >= 1, f"{page} shows no chart"
    assert (shots / "intro.html.png").stat().st_size > 10_000


@pytest.fixture(scope="module")
def committed_html(tmp_path_factory) -> Path:
    """The committed book/ (what users read), rendered with execution off, as `jupyter-book build book/` does."""
    dest = tmp_path_factory.mktemp("committed")
    shutil.copytree(REPO / "book", dest / "book", ignore=shutil.ignore_patterns("_build"))
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    jb = Path(sys.executable).with_name("jupyter-book")
    p = subprocess.run([str(jb), "build", str(dest / "book")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    log = p.stdout + p.stderr
    assert "nonexisting document" not in log and "isn't included in any toctree" not in log
    html = dest / "_build" / "html"
    assert len(_pages(html)) >= 10, f"the build wrote no pages into {html}"
    return html


def test_committed_book_renders_offline_with_charts(browser, committed_html):
    charts = check_book(browser, committed_html, ARTIFACTS / "committed",
                        hover=("experiments/lenet_grid.html", "experiments/lenet_mnist.html"))
    for page in _figure_pages(charts, committed_html):
        assert charts[page]["charts"] >= 1, f"{page} shows no chart"
        if page.startswith("experiments/"):  # a figure page: how to re-run it, its links, the data behind it
            assert charts[page]["rerun"], f"{page} has no re-run box with its links"
            assert charts[page]["csv"] >= 1, f"{page} links no CSV of the data behind its charts"
        assert charts[page]["narrow"] == 0, f"{page}: a chart was laid out for a phone on a desktop"


def test_committed_book_reads_on_a_phone(browser, committed_html):
    """At 390 px every chart is laid out for the column (panels one per row, text at least 9 px, nothing wider than
    the column); a wide table scrolls inside its own box, never the page."""
    charts = check_book(browser, committed_html, ARTIFACTS / "committed-390", width=390)
    for page in _figure_pages(charts, committed_html):
        assert charts[page]["charts"] >= 1, f"{page} shows no chart at 390 px"
    for page, st in charts.items():
        assert st["narrow"] == st["boxes"], f"{page}: {st['boxes'] - st['narrow']} chart(s) not laid out for a phone"


def test_the_checker_refuses_a_cdn_script_and_a_broken_chart(browser, tmp_path):
    """The checker itself can fail: a page that loads a CDN script, and a page whose chart does not render."""
    cdn, broken = tmp_path / "cdn", tmp_path / "broken"
    cdn.mkdir(), broken.mkdir()
    (cdn / "intro.html").write_text('<html><body><main><script src="https://cdn.jsdelivr.net/npm/vega@5">'
                                    "</script></main></body></html>")
    (broken / "intro.html").write_text('<html><body><main><div class="cell_output"><img src="missing.svg"></div>'
                                       "</main></body></html>")
    with pytest.raises(AssertionError, match="leave the machine"):
        check_book(browser, cdn)
    with pytest.raises(AssertionError, match="did not render"):
        check_book(browser, broken)


def test_the_checker_refuses_what_a_reader_must_not_meet(browser, tmp_path):
    """One page with each fault the checker looks for: every one is named in its failure."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "intro.html").write_text(
        '<html><body><main><article class="bd-article" style="width:600px">'
        "<table><tr><td>a long conclusion, cut...</td></tr></table>"
        '<div class="cell_output"><div style="width:2000px">wide</div></div>'
        '<div class="cell_input"><pre>import oracle_core</pre></div>'
        "<p>data in /work/main/data/MNIST/raw</p>"
        '<div class="oracle-chart" data-drawn="yes"><svg class="marks" width="1000" height="100" '
        'style="width:300px;height:30px"><rect width="5" height="5"/><text font-size="10" y="20">tiny</text></svg>'
        "</div></article></main></body></html>")
    with pytest.raises(AssertionError) as err:
        check_book(browser, bad)
    for what in ('cut with "..."', "wider than the main column", "code inputs shown", "absolute paths",
                 "chart text under 9 px"):
        assert what in str(err.value), what
