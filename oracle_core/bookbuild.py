"""Execute every book notebook with papermill, fail on any error, then build the HTML with Jupyter Book.

``python -m oracle_core.bookbuild`` renders the committed book from the results store at the default
(``cpu``) profile: finished settings load instantly, missing ones are computed (and resumed if killed).
``--profile smoke --dest DIR`` renders a throwaway copy for CI without touching ``book/``.
Papermill's exit code is checked because a failed notebook still renders in Jupyter Book with exit 0.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# One row per executed page: source notebook, page path under book/, papermill parameters.
PAGES: list[tuple[str, str, dict[str, object]]] = [
    ("notebooks/profiles.ipynb", "profiles.ipynb", {}),
    ("notebooks/lenet_mnist.ipynb", "experiments/lenet_mnist.ipynb",
     {"model": "lenet5_mini", "dataset": "mnist", "layers": "conv1", "ratio": 0.5}),
    ("notebooks/wiring.ipynb", "experiments/wiring.ipynb", {"layer_list": "conv1", "ratio": 0.5}),
    ("notebooks/summary.ipynb", "summary.ipynb", {}),
]


def _run(cmd: list[str], what: str) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        raise SystemExit(f"error: {what} failed (command above); the book was not built")


def build(profile: str = "cpu", dest: Path | None = None, results: Path | None = None, data: Path | None = None,
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
        for src, page, params in PAGES:
            cmd = [sys.executable, "-m", "papermill", str(REPO / src), str(book / page), "-k", "python3",
                   "--cwd", str(REPO), "-p", "profile", profile]
            for k, v in params.items():
                cmd += ["-p", k, str(v)]
            if results:
                cmd += ["-p", "results_root", str(Path(results).resolve())]
            if data:
                cmd += ["-p", "data_root", str(Path(data).resolve())]
            _run(cmd, f"notebook {src} -> {page}")
    jb = Path(sys.executable).with_name("jupyter-book")
    _run([str(jb if jb.exists() else "jupyter-book"), "build", str(book)], "jupyter-book build")
    return book.parent / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m oracle_core.bookbuild", description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="cpu", help="profile every page runs at (default cpu)")
    p.add_argument("--dest", type=Path, default=None, help="render a copy of the book here instead of book/")
    p.add_argument("--results", type=Path, default=None, help="results root (default ./results)")
    p.add_argument("--data", type=Path, default=None, help="data root (default ./data)")
    p.add_argument("--no-execute", action="store_true", help="only build the HTML from the executed pages")
    a = p.parse_args(argv)
    html = build(a.profile, a.dest, a.results, a.data, not a.no_execute)
    print(f"book: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
