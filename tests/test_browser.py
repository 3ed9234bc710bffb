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


def check_book(browser, html: Path, screenshot: Path | None = None) -> dict[str, int]:
    """Open every page; return {page: charts rendered}. Fails on a console error, a page error, a request that
    leaves 127.0.0.1, or a chart image that did not render."""
    server, base = _serve(html)
    outside, console, charts = [], [], {}
    try:
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})

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
        for rel in _pages(html):
            page.goto(f"{base}/{rel}", wait_until="load")
            stats = page.evaluate("""async () => {
                const imgs = [...document.querySelectorAll('.cell_output img, .output img')]
                    .filter(i => i.src.endsWith('.svg'));
                let ok = 0, bad = [];
                for (const i of imgs) {
                    const txt = await (await fetch(i.src)).text();
                    const marks = (txt.match(/<path|<circle|<rect|<line/g) || []).length;
                    if (i.complete && i.naturalWidth > 0 && marks > 3) ok++; else bad.push(i.src);
                }
                const inline = [...document.querySelectorAll('.cell_output svg.marks, .cell_output canvas.marks')]
                    .filter(s => s.tagName === 'CANVAS' || s.querySelector('path, circle, rect')).length;
                return {ok, bad, inline};
            }""")
            assert not stats["bad"], f"{rel}: chart images that did not render: {stats['bad']}"
            charts[rel] = stats["ok"] + stats["inline"]
            if screenshot is not None and rel == "intro.html":
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot), full_page=True)
        ctx.close()
    finally:
        server.shutdown()
    assert not outside, f"requests that would leave the machine: {outside[:5]}"
    assert not console, f"console errors: {console[:5]}"
    return charts


def _figure_pages(charts: dict[str, int], html: Path) -> list[str]:
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
    shot = ARTIFACTS / "front_page_smoke.png"
    charts = check_book(browser, dest / "_build" / "html", shot)
    assert "intro.html" in charts and "experiments/lenet_grid.html" in charts
    pages = _figure_pages(charts, dest / "_build" / "html")
    assert "experiments/resnet_cifar.html" in pages  # the paper's points are drawn even before our run exists
    for page in pages:
        assert charts[page] >= 1, f"{page} shows no chart"
    assert shot.stat().st_size > 10_000


def test_committed_book_renders_offline_with_charts(browser, tmp_path):
    """The committed book/ (what users read), rendered with execution off, as `jupyter-book build book/` does."""
    dest = tmp_path / "committed"
    shutil.copytree(REPO / "book", dest / "book", ignore=shutil.ignore_patterns("_build"))
    shutil.copy(REPO / "_config.yml", dest / "_config.yml")
    jb = Path(sys.executable).with_name("jupyter-book")
    p = subprocess.run([str(jb), "build", str(dest / "book")], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    log = p.stdout + p.stderr
    assert "nonexisting document" not in log and "isn't included in any toctree" not in log
    charts = check_book(browser, dest / "_build" / "html", ARTIFACTS / "front_page.png")
    for page in _figure_pages(charts, dest / "_build" / "html"):
        assert charts[page] >= 1, f"{page} shows no chart"


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
