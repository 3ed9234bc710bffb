"""End to end: every book notebook executes with papermill at the smoke profile and the book builds offline."""

import json
import re

import pytest
from conftest import REPO

from oracle_core.experiment.results import load_run_dir
from oracle_core.experiment.store import find_runs
from oracle_core.pages import build as bookbuild
from oracle_core.pages import setting

pytestmark = pytest.mark.notebook


def _errors_in(nb_path):
    nb = json.loads(nb_path.read_text())
    return [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"] + (
        [True] if nb["metadata"].get("papermill", {}).get("exception") else [])


def test_every_page_executes_without_error(smoke_book):
    dest, _ = smoke_book
    for p in bookbuild.PAGES:
        page, params = p.page, p.params
        nb = dest / "book" / page
        assert nb.is_file() and not _errors_in(nb)
        if params:  # an experiment page says which profile produced it (or, read-only, which it looked for)
            assert re.search(r"[Pp]rofile `smoke`", nb.read_text()), page


def test_html_draws_charts_with_the_books_own_scripts_and_links_its_data(smoke_book):
    """Charts are Vega-Lite specs drawn by the book's own copy of the vega libraries (no CDN); every CSV link of a
    page resolves to a file of the built book, with one row per mask."""
    dest, log = smoke_book
    page = dest / "_build" / "html" / "experiments" / "lenet_mnist.html"
    html = page.read_text()
    specs = re.findall(r'<div class="oracle-chart">.*?<script type="application/json">(.*?)</script>', html, re.S)
    assert len(specs) >= 2  # ours (accuracy beside loss, one chart) and the paper's panel
    for text in specs:
        spec = json.loads(text.replace("<\\/", "</"))
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")  # an id, never fetched
        assert spec.get("datasets") and "Kendall tau" in text
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', html)
    assert scripts and not [s for s in scripts if s.startswith(("http:", "https:", "//"))]
    bundle = (page.parent / next(s for s in scripts if "oracle-charts.js" in s)).resolve()
    assert "vegaEmbed" in bundle.read_text()[-5000:]  # our draw script closes the bundle
    links = re.findall(r'href="([^"]+\.csv)"', html)
    assert any("ours_smoke" in link for link in links) and any("paper_" in link for link in links), links
    for link in links:
        f = (page.parent / link).resolve()
        assert f.is_file(), link
        assert len(f.read_text().splitlines()) > 2
    assert "oracle-static:" not in html  # every download link was made relative to its page
    assert "toctree contains reference to nonexisting document" not in log


def test_a_failing_notebook_fails_the_build(tmp_path, monkeypatch):
    monkeypatch.setattr(bookbuild, "PAGES", [bookbuild.Page("notebooks/lenet_mnist.ipynb",
                                                            "experiments/lenet_mnist.ipynb",
                                                             {"ratio": 1.5})])
    with pytest.raises(SystemExit, match="failed"):
        bookbuild.build("smoke", tmp_path / "b", tmp_path / "r")


def test_the_table_of_contents_is_made_from_the_page_list():
    """PAGES is the one list of pages: book/_toc.yml is what toc_text writes from it, every page has its notebook,
    and a page added to the list appears in the table of contents under its part."""
    assert (REPO / "book" / "_toc.yml").read_text() == bookbuild.toc_text()
    assert all((REPO / p.source).is_file() for p in bookbuild.PAGES)
    extra = [*bookbuild.PAGES, bookbuild.Page("notebooks/new.ipynb", "experiments/new.ipynb", part="Beyond the figures",
                                              parent="beyond.ipynb")]
    toc = bookbuild.toc_text(extra)
    assert "      - file: beyond\n        sections:\n          - file: experiments/new\n" in toc


def test_committed_book_pages_carry_no_papermill_error():
    for p in bookbuild.PAGES:
        page = p.page
        nb = REPO / "book" / page
        assert nb.is_file(), f"{page} is not executed into book/: run `make book`"
        assert not _errors_in(nb)
        assert "Profile `smoke`" not in nb.read_text(), "the committed book must show real runs, not smoke"
        assert nb.stat().st_size < 5_000_000, f"{page} is over 5 MB: large files stay out of git"
        import nbformat

        code = [c for c in nbformat.read(nb, as_version=4).cells if c.cell_type == "code"]
        shown = [c.source[:60] for c in code if not any(t.startswith(("hide-", "remove-"))
                                                        for t in c.metadata.get("tags", []))]
        assert not shown, f"{page}: code inputs shown to readers (collapse them: hide-input): {shown}"


def test_the_committed_book_shows_the_book_profile():
    """Every committed page was executed at BOOK_PROFILE (converged: the paper's retraining), the profile `make book`
    passes; a page left from an earlier build at another profile fails here."""
    import nbformat

    assert f"--profile {bookbuild.BOOK_PROFILE}" in (REPO / "Makefile").read_text()
    for p in bookbuild.PAGES:
        nb = nbformat.read(REPO / "book" / p.page, as_version=4)
        injected = [c.source for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f'profile = "{bookbuild.BOOK_PROFILE}"' in injected[0], f"{p.page}: run `make book`"


def test_committed_summaries_equal_the_analysis_of_their_masks():
    runs = find_runs(REPO / "results")
    assert runs, "no committed results"
    for d in runs:
        res = load_run_dir(d)
        setting.check_summary(res)  # summary.json == the analysis recomputed from masks.csv
        assert res.summary["profile"] != "smoke"


def test_single_setting_notebooks_are_written_by_the_one_template():
    """lenet_mnist and the four large-model notebooks come from tools/make_model_notebooks.py: a notebook edited by
    hand (or a template change not regenerated) fails here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_model_notebooks", REPO / "tools" / "make_model_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert {"lenet_mnist", "resnet_cifar", "vgg_cifar100", "resnet_imagenet", "vit_imagenet"} <= set(tool.NOTEBOOKS)
    for name in tool.NOTEBOOKS:
        committed = (REPO / "notebooks" / f"{name}.ipynb").read_text()
        assert committed == tool.render(name), \
            f"notebooks/{name}.ipynb differs: run python tools/make_model_notebooks.py"


def test_no_committed_result_was_computed_on_fabricated_data():
    """Files fabricated for tests are accepted only under ORACLE_FABRICATED_DATA=1 and every result computed on them
    records it (dataset_md5.fabricated); the committed store, which the book shows, must hold none."""
    import json

    runs = find_runs(REPO / "results")
    assert runs
    for d in runs:
        env = json.loads((d / "env.json").read_text()) if (d / "env.json").exists() else {}
        assert env.get("dataset_md5", {}).get("fabricated") != "true", f"{d} was computed on fabricated data"


def test_the_build_writes_a_source_archive_a_reader_can_build_the_book_from(tmp_path):
    """The book links this companion's code at the built commit (front page and every re-run box): the archive holds
    the package, the notebooks, the reference data, the results store and the Makefile that builds the book."""
    import tarfile

    from oracle_core.pages import build, rerun

    out = build.write_source_archive(tmp_path / "_static")
    assert out is not None and out.name == rerun.SOURCE_ARCHIVE
    with tarfile.open(out) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    assert {"Makefile", "requirements.txt", "oracle_core/__init__.py", "notebooks/front.ipynb", "book/_toc.yml",
            "reference/reference_results.csv"} <= names
    assert any(n.startswith("results/lenet_mnist/") and n.endswith("/manifest.json") for n in names)
    assert 'href="../_static/oracle-core-source.tar.gz"' in rerun.box(["<p>x</p>"], "lenet_grid")
    # a book built from the unpacked archive (no git) links a working archive too: the same tree, set-up and data
    # left out, under the commit the first one names
    with tarfile.open(out) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    root = next((tmp_path / "unpacked").iterdir())
    commit = (root / build.SOURCE_COMMIT).read_text().strip()
    assert len(commit) == 40 and root.name == f"oracle-core-{commit[:12]}"
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / ".venv" / "bin" / "python").write_text("not source")
    (root / "data").mkdir()
    (root / "data" / "x.gz").write_text("not source")
    import pytest as _pytest
    mp = _pytest.MonkeyPatch()
    mp.setattr(build, "REPO", root)
    try:
        again = build.write_source_archive(tmp_path / "again")
    finally:
        mp.undo()
    def files(archive):
        with tarfile.open(archive) as tar:
            return {m.name for m in tar.getmembers() if m.isfile()}

    assert files(again) == files(out)  # the same files under the same folder, nothing of the set-up or the data


def test_the_books_chart_script_bundles():
    """The script that draws every chart (book/_ext/offline_html.py) is bundled with the vega libraries at build time;
    a syntax slip in it fails here in a second rather than at the end of a book build."""
    import importlib.util

    import altair
    import vl_convert

    spec = importlib.util.spec_from_file_location("offline_html", REPO / "book" / "_ext" / "offline_html.py")
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    bundle = vl_convert.javascript_bundle(ext._DRAW, vl_version="v" + ".".join(altair.VEGALITE_VERSION.split(".")[:2]))
    assert "function narrowed" in bundle or "narrowed" in bundle
    with pytest.raises(Exception):  # the check can fail: the same script with a function's head cut off
        vl_convert.javascript_bundle(ext._DRAW.replace("const walk = node => {", "", 1))
