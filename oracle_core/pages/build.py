"""Execute every book notebook with papermill, fail on any error, then build the HTML with Jupyter Book.

``python -m oracle_core.pages.build`` renders the committed book from the results store at BOOK_PROFILE
(``converged``: the paper's per-mask retraining, a sampled 45 masks per setting). Figure pages only read the store
(a missing setting shows the command that computes it): the build never starts hours of training.
``--profile smoke --dest DIR`` renders a throwaway copy for CI without touching ``book/``.
Papermill's exit code is checked because a failed notebook still renders in Jupyter Book with exit 0.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import papermill

from ..analysis import collect, single
from ..base.errors import OracleError
from ..base.paths import REPO
from .charts import BOOK_CHARTS_ENV
from .downloads import DOWNLOADS_ENV
from .rerun import SOURCE_ARCHIVE


@dataclass(frozen=True)
class Page:
    """One executed page: its source notebook, its path under book/, papermill parameters, and where the table of
    contents puts it (a part's caption; ``parent``: the page it is a section of)."""

    source: str
    page: str
    params: dict = field(default_factory=dict)
    part: str | None = None  # None: the book's root page
    parent: str | None = None


BOOK_PROFILE = "converged"  # the profile the committed book shows as ours
_ABOUT, _FIGURES, _BEYOND = "About the runs", "The paper's figures", "Beyond the figures"
_LARGE = "experiments/large_models.ipynb"

# the book's own pages, in reading order; each model's single-setting page (its record: models/catalog.py) is added
# by pages(): a section right after its parent page, or a chapter right after its record's ``after`` page
_OWN_PAGES: list[Page] = [
    Page("notebooks/front.ipynb", "intro.ipynb"),
    Page("notebooks/profiles.ipynb", "profiles.ipynb", part=_ABOUT),
    Page("notebooks/reproducibility.ipynb", "reproducibility.ipynb", part=_ABOUT),
    Page("notebooks/lenet_grid.ipynb", "experiments/lenet_grid.ipynb", part=_FIGURES),
    Page("notebooks/large_models.ipynb", _LARGE, part=_FIGURES),
    Page("notebooks/mnist_variants.ipynb", "experiments/mnist_variants.ipynb", part=_FIGURES),
    Page("notebooks/lenet_variants.ipynb", "experiments/lenet_variants.ipynb", part=_FIGURES),
    Page("notebooks/retrain_lesson.ipynb", "experiments/retrain_lesson.ipynb", part=_FIGURES),
    Page("notebooks/wiring.ipynb", "experiments/wiring.ipynb", part=_BEYOND),
    Page("notebooks/beyond.ipynb", "beyond.ipynb", part=_BEYOND),
    Page("notebooks/summary.ipynb", "summary.ipynb", part=_BEYOND),
]


def pages() -> list[Page]:
    """Every page of the book, in reading order: the one list the build executes and the table of contents is made
    from. A model page that is a chapter names its setting in its parameters (the book shows that one)."""
    out = list(_OWN_PAGES)
    for m in single.model_pages():
        rec = m.page
        parent = f"experiments/{rec.parent}.ipynb" if rec.parent else None
        anchor = parent or f"experiments/{rec.after}.ipynb"
        params = {"compute": False} if parent else {"model": m.name, "dataset": m.dataset, "layers": rec.layers,
                                                     "ratio": 0.5, "compute": False}
        page = Page(f"notebooks/{rec.notebook}.ipynb", f"experiments/{rec.notebook}.ipynb", params, _FIGURES, parent)
        at = max(i for i, p in enumerate(out) if p.page == anchor or p.parent == anchor)  # after its siblings
        out.insert(at + 1, page)
    return out


PAGES: list[Page] = pages()  # the registered models' pages at import (a model registered later: call pages())


def toc_text(pages: list[Page] = PAGES) -> str:
    """book/_toc.yml for ``pages``: the root page, then each part's chapters with their sections."""
    def name(p: Page) -> str:
        return p.page.removesuffix(".ipynb")

    root = next(p for p in pages if p.part is None)
    lines = ["format: jb-book", f"root: {name(root)}", "parts:"]
    for part in dict.fromkeys(p.part for p in pages if p.part is not None):
        lines += [f"  - caption: {part}", "    chapters:"]
        for p in pages:
            if p.part == part and p.parent is None:
                lines.append(f"      - file: {name(p)}")
                sections = [q for q in pages if q.parent == p.page]
                if sections:
                    lines.append("        sections:")
                    lines += [f"          - file: {name(q)}" for q in sections]
    return "\n".join(lines) + "\n"


def _run(cmd: list[str], what: str, env: dict | None = None) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO, env={**os.environ, **(env or {})}).returncode != 0:
        raise SystemExit(f"error: {what} failed (command above); the book was not built")


def _tag_cells(path: Path) -> None:
    """Readers of a paper companion want prose, figures and tables: every code cell's input is collapsed
    (``hide-input``: one click shows it), unless its author already tagged it remove-/hide-; papermill's
    injected-parameters cell gets the display tags of the notebook's own parameters cell."""
    nb = nbformat.read(path, as_version=4)
    tags = next((c.metadata.get("tags", []) for c in nb.cells if "parameters" in c.metadata.get("tags", [])), [])
    extra = [t for t in tags if t.startswith(("remove-", "hide-"))]
    for c in nb.cells:
        if "injected-parameters" in c.metadata.get("tags", []) and extra:
            c.metadata["tags"] = list(dict.fromkeys(c.metadata["tags"] + extra))
        if c.cell_type == "code" and not any(t.startswith(("remove-", "hide-")) for t in c.metadata.get("tags", [])):
            c.metadata["tags"] = list(c.metadata.get("tags", [])) + ["hide-input"]
    nbformat.write(nb, path)


def build(profile: str = BOOK_PROFILE, dest: Path | None = None, results: Path | None = None, data: Path | None = None,
          execute: bool = True) -> Path:
    """Execute the pages into ``dest`` (default: book/) and build its HTML; returns the HTML folder."""
    book = REPO / "book"
    if dest is not None:  # a throwaway copy: the book sources plus the root _config.yml one level up
        dest = Path(dest).resolve()
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(book, dest / "book", ignore=shutil.ignore_patterns("_build"))
        shutil.copy(REPO / "_config.yml", dest / "_config.yml")
        book = dest / "book"
    if execute:
        check = collect.verification_table(results)  # the book serves only folders that verify
        failed = check[check["state"] == "failed"] if len(check) else check
        if len(failed):
            raise OracleError(f"{len(failed)} folder(s) of the results store fail verification, first "
                              f"{failed['folder'].iloc[0]}: {failed['detail'].iloc[0]} "
                              "(`python -m oracle_core verify` lists them all)")
        downloads = book / "_static" / "data"  # the CSVs behind the charts: rewritten from the store every build
        shutil.rmtree(downloads, ignore_errors=True)
        downloads.mkdir(parents=True)
        env = {BOOK_CHARTS_ENV: "interactive", DOWNLOADS_ENV: str(downloads)}
        for p in PAGES:
            src, page = p.source, p.page
            cmd = [sys.executable, "-m", "papermill", str(REPO / src), str(book / page), "-k", "python3",
                   "--cwd", str(REPO), "-p", "profile", profile]
            for k, v in p.params.items():
                cmd += ["-p", k, str(v)]
            takes = papermill.inspect_notebook(str(REPO / src))  # a page is given only the roots it declares
            if results and "results_root" in takes:
                cmd += ["-p", "results_root", str(Path(results).resolve())]
            if data and "data_root" in takes:
                cmd += ["-p", "data_root", str(Path(data).resolve())]
            _run(cmd, f"notebook {src} -> {page}", env)
            _tag_cells(book / page)
    (book / "_toc.yml").write_text(toc_text())
    html = book.parent / "_build" / "html"
    # Sphinx keeps a static file already in the output (measured: an edited book/_static/oracle.css stayed stale,
    # and removing only _static breaks an incremental build), so the previous HTML goes first (about 20 s to redo)
    shutil.rmtree(html, ignore_errors=True)
    jb = Path(sys.executable).with_name("jupyter-book")
    _run([str(jb if jb.exists() else "jupyter-book"), "build", str(book)], "jupyter-book build")
    write_source_archive(html / "_static")
    return html


SOURCE_COMMIT = "SOURCE_COMMIT"  # in the archive: the commit it was made from (a build from it archives that)
# what a build from an unpacked archive leaves out of the archive it writes: set-up, data and build outputs
_NOT_SOURCE_TOP = {".venv", "data", "_build", ".git", ".whl", ".gl", "tmp", ".pytest_cache", ".ruff_cache"}
_NOT_SOURCE_ANY = {"__pycache__", "oracle_core.egg-info", "oracle_core_egg-info"}


def write_source_archive(static: Path) -> Path:
    """This companion at the built commit (package, notebooks, reference data, results store, book sources,
    Makefile), as one archive in the book's static files, so a reader can download it and run ``make book``.
    From git: ``git archive`` of HEAD with a SOURCE_COMMIT file naming the commit. Without git (a build from such
    an archive): the unpacked tree again, set-up, data and build outputs left out, under the commit it names, so the
    book it builds links a working archive too."""
    out = Path(static) / SOURCE_ARCHIVE
    out.parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    if commit.returncode == 0:
        full = commit.stdout.strip()
        _run(["git", "archive", "--format=tar.gz", f"--prefix=oracle-core-{full[:12]}/",
              f"--add-virtual-file=oracle-core-{full[:12]}/{SOURCE_COMMIT}:{full}", "-o", str(out), "HEAD"],
             "git archive")
        return out
    named = REPO / SOURCE_COMMIT
    full = named.read_text().strip() if named.is_file() else "unknown"
    prefix = f"oracle-core-{full[:12]}"
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(REPO.rglob("*")):
            rel = path.relative_to(REPO)
            if (rel.parts[0] in _NOT_SOURCE_TOP or set(rel.parts) & _NOT_SOURCE_ANY
                    or rel.parts[:2] == ("book", "_build") or path.is_dir() or path.is_symlink()
                    or path.suffix in (".pyc", ".tmp", ".lock", ".claim") or path.name == ".lock"
                    or path.name.startswith("_tmp")):
                continue
            tar.add(path, arcname=f"{prefix}/{rel}", recursive=False)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oracle_core.pages.build", description=__doc__.split("\n")[0])
    p.add_argument("--profile", default=BOOK_PROFILE, help=f"profile every page runs at (default {BOOK_PROFILE})")
    p.add_argument("--dest", type=Path, default=None, help="render a copy of the book here instead of book/")
    p.add_argument("--results", type=Path, default=None, help="results root (default ./results)")
    p.add_argument("--data", type=Path, default=None, help="data root (default ./data)")
    p.add_argument("--no-execute", action="store_true", help="only build the HTML from the executed pages")
    a = p.parse_args(argv)
    try:
        html = build(a.profile, a.dest, a.results, a.data, not a.no_execute)
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"book: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
