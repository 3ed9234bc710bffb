"""The package's architecture, checked: every import of oracle_core points down the layers (or within its own
layer), no module imports another in a cycle, every import of our own code is at module level, and no module
outgrows 350 lines. A failure names the import or cycle that breaks the rule."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "oracle_core"
# lower number = lower layer; a module may import its own layer and any lower one, never a higher one
LAYERS = {"base": 0, "models": 1, "data": 2, "compute": 3, "experiment": 4, "analysis": 5, "pages": 6}
TOP = 7  # oracle_core/__init__.py and __main__.py (the command line) sit above every layer
LAZY_THIRD_PARTY = {"ray"}  # optional scale-out: imported inside the function that starts it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], TOP) if len(parts) > 1 else TOP


def resolve(node: ast.ImportFrom, here: str, is_package: bool) -> list[str]:
    """The oracle_core modules an ImportFrom names (a name that is a submodule counts as that module)."""
    if node.level:
        base = here.split(".")[: len(here.split(".")) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("oracle_core"):
        return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        out.append(sub if (PKG.parent / Path(*sub.split("."))).with_suffix(".py").exists()
                   or (PKG.parent / Path(*sub.split(".")) / "__init__.py").exists() else target)
    return out


def imports() -> dict[str, list[tuple[str, int, bool]]]:
    """module -> [(imported oracle_core module, line, at module level)]."""
    graph: dict[str, list[tuple[str, int, bool]]] = {}
    for path in sorted(PKG.rglob("*.py")):
        here, tree = module_name(path), ast.parse(path.read_text())
        top_level = {id(n) for n in tree.body}
        edges = graph.setdefault(here, [])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                targets = resolve(node, here, path.name == "__init__.py")
                edges += [(t, node.lineno, id(node) in top_level) for t in targets]
            elif isinstance(node, ast.Import):
                edges += [(a.name, node.lineno, id(node) in top_level) for a in node.names
                          if a.name.startswith("oracle_core")]
                for a in node.names:
                    if id(node) not in top_level and not a.name.startswith("oracle_core"):
                        assert a.name.split(".")[0] in LAZY_THIRD_PARTY, f"{here}:{node.lineno}: local import {a.name}"
    return graph


def test_every_import_points_down():
    bad = [f"{m}:{line} imports {t} (layer {layer_of(t)} above {layer_of(m)})"
           for m, edges in imports().items() for t, line, _ in edges
           if layer_of(t) > layer_of(m) and not (t == "oracle_core" and m == "oracle_core")]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_our_imports_are_top_level():
    bad = [f"{m}:{line} imports {t} inside a function" for m, edges in imports().items() for t, line, top in edges
           if not top]
    assert not bad, "\n".join(bad)


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in graph.get(m, []):
            if state.get(t) == 1:
                return stack[stack.index(t):] + [t]
            if t in graph and state.get(t, 0) == 0 and (c := visit(t)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in graph:
        if state.get(m, 0) == 0 and (c := visit(m)):
            return c
    return None


def test_no_import_cycle():
    # a package's __init__ importing its own submodules is how its public face is built, not a cycle between them
    graph = {m: sorted({t for t, _, _ in edges if not (m.endswith(tuple(LAYERS)) and t.startswith(m + "."))
                        and t != m}) for m, edges in imports().items()}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)



# pages present, analysis concludes: a page module imports analysis, base and its own layer only. These still reach
# below analysis and are being moved (the list may only shrink; a module leaving it is checked from then on).
def test_pages_import_only_analysis_base_and_pages():
    """Pages present, analysis concludes: a page module imports analysis/, base/ and other pages only, and never
    computes a statistic itself (no scipy, no bootstrap, no analyze)."""
    allowed = {"base", "analysis", "pages"}
    bad = []
    for m, edges in imports().items():
        if not m.startswith("oracle_core.pages"):
            continue
        for t, line, _ in edges:
            if len(t.split(".")) > 1 and t.split(".")[1] not in allowed:
                bad.append(f"{m}:{line} imports {t}")
        path = PKG.parent / Path(*m.split(".")).with_suffix(".py")
        text = path.read_text() if path.exists() else ""
        for word in ("scipy", "kendalltau", "bootstrap(", "analyze("):
            if word in text:
                bad.append(f"{m} uses {word} (a reading belongs in analysis/)")
    assert not bad, "pages reaching below analysis:\n" + "\n".join(bad)


def test_the_checks_catch_what_they_forbid():
    """The cycle finder and the layer rule fail on a made-up violation (so the tests above can fail)."""
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert layer_of("oracle_core.compute.engine") < layer_of("oracle_core.experiment.runner")
    assert layer_of("oracle_core.pages.figure") > layer_of("oracle_core.analysis.criteria")


def test_no_module_over_350_lines():
    long = [f"{p.relative_to(PKG.parent)}: {n} lines" for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 350]
    assert not long, "\n".join(long)


def test_every_layer_has_a_public_face():
    for name in LAYERS:
        init = PKG / name / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), f"{name}/__init__.py needs a docstring"
        if name != "models":
            assert "__all__" in init.read_text(), f"{name}/__init__.py needs __all__"


def test_ruff_is_clean():
    """pyproject.toml's ruff rules (pycodestyle, pyflakes, import order; 120 columns) hold for the package, tests,
    benchmarks, tools and notebooks."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=PKG.parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]


def test_the_readmes_layout_names_every_module_of_every_layer():
    """README's "where things are" table matches the folders: a row per layer, naming each of its modules."""
    readme = (PKG.parent / "README.md").read_text()
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `(\w+)/` \|.*$", readme, re.M)}
    assert set(rows) == set(LAYERS), f"layers without a row: {set(LAYERS) - set(rows)}; rows without a layer: " \
                                     f"{set(rows) - set(LAYERS)}"
    missing = [f"{layer}/{p.stem}" for layer in LAYERS for p in sorted((PKG / layer).glob("*.py"))
               if not p.stem.startswith("__") and f"`{p.stem}`" not in rows[layer]]
    assert not missing, "modules the README's layout table does not name: " + ", ".join(missing)


def test_no_page_types_a_result_in_its_prose():
    """Numbers in prose are computed, never typed: a notebook's markdown (and a model page's intro, which becomes
    one) holds no signed decimal (a tau) and no decimal percentage; those come from the store or the paper's tables when
    the page runs."""
    import json

    from oracle_core.models import MODELS

    typed = re.compile(r"(?<![\w.])[-+]\d+\.\d+|\b\d+\.\d+\s?%")  # a tau, a measured percentage (not "95%")
    repo = PKG.parent
    texts = {str(p.relative_to(repo)): "\n".join("".join(c["source"]) for c in json.loads(p.read_text())["cells"]
                                                  if c["cell_type"] == "markdown")
             for p in sorted((repo / "notebooks").glob("*.ipynb"))}
    texts.update({f"catalog {name}": r.page.intro for name, r in MODELS.items() if r.page is not None})
    found = {k: m.group(0) for k, t in texts.items() if (m := typed.search(t))}
    assert len(texts) > 10 and not found, found
    assert typed.search("the paper's tau (-0.51)") and typed.search("98.47 %")
    assert not typed.search("ratio 0.5, a 95% interval")
