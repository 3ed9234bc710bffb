"""One record per model: registering a model (its module plus one ``register(ModelRecord(...))``) is all it takes
for the registry, the grid, the book's pages, the notebook generator, the large-model page and the paper's reference
tables to know it."""

import importlib.util

import pytest

from oracle_core.analysis import reference, single
from oracle_core.base.paths import REPO
from oracle_core.experiment.grid import mnist_grid
from oracle_core.models import MODELS, GridSetting, ModelRecord, PageRecord, PaperRecord, build_model, register
from oracle_core.models.lenet import LeNet5Mini
from oracle_core.pages import build as bookbuild
from oracle_core.pages import large_models


@pytest.fixture
def toy():
    """A toy model registered for one test (a narrower LeNet5-Mini that reproduces the paper's W20 numbers, with a
    page under the large-model page and one grid setting), and unregistered after it."""
    rec = ModelRecord(
        "toy_lenet", lambda c, k: LeNet5Mini(c, k, conv1_filters=12), "lenet", "a toy LeNet for this test",
        dataset="mnist",
        paper=PaperRecord("lenet5_mini_w20", "mnist", "diff/w20_conv1_{ratio}", "Toy / MNIST", figure=3),
        page=PageRecord("toy_page", "A toy model", "Its intro.", "toy_experiment", "conv1", "one conv layer",
                        "toy_lenet", n_masks=7, parent="large_models"),
        grid=(GridSetting("lenet_variants", n_masks=1000),))
    register(rec)
    try:
        yield rec
    finally:
        MODELS.pop("toy_lenet")


def test_a_registered_model_is_everywhere_the_package_lists_models(toy, tmp_path):
    # the registry: built from the record
    assert MODELS["toy_lenet"] is toy and build_model("toy_lenet").conv1.out_channels == 12
    # the grid: its setting is one of the grid's entries
    hits = [e for e in mnist_grid() if e.model == "toy_lenet"]  # with its released-code twin (like for like)
    assert [(e.experiment, e.layers, e.ratio, e.n_masks, e.dataset, e.wiring) for e in hits] == [
        ("lenet_variants", "conv1", 0.5, 1000, "mnist", w) for w in ("correct", "released_code")]
    # the book: its page is a section of the large-model page, right after the other sections
    pages = bookbuild.pages()
    page = next(p for p in pages if p.source == "notebooks/toy_page.ipynb")
    assert page.parent == "experiments/large_models.ipynb" and page.params == {"compute": False}
    sections = [p.page for p in pages if p.parent == page.parent]
    assert sections[-1] == page.page and len(sections) == 5
    assert "toy_page" in bookbuild.toc_text(pages)
    # the paper's reference tables: its record names the paper's W20 row and panel
    row = reference.paper_row("toy_lenet", "mnist", ("conv1",), 0.5)
    assert row is not None and row["model"] == "lenet5_mini_w20"
    assert reference.panel_name("toy_lenet", "mnist", ("conv1",), 0.5) == "diff/w20_conv1_0.5"
    assert reference.paper_row("toy_lenet", "mnist", ("conv2",), 0.5) is None
    # the large-model page: its paper panel, its re-run command and what exists of our run
    assert ("diff/w20_conv1_0.5", "Toy / MNIST", "lenet5_mini_w20", "mnist") in large_models.large_panels()
    assert "notebooks/toy_page.ipynb" in large_models.large_model_header()
    run = next(r for r in single.large_runs("converged", tmp_path) if r.model == "toy_lenet")
    assert run.result is None and "--experiment toy_experiment --model toy_lenet" in run.command
    assert "Toy / mnist" in large_models.large_model_status("converged", tmp_path)  # named as the paper's figure
    # the notebook generator writes its notebook from the record
    spec = importlib.util.spec_from_file_location("make_model_notebooks", REPO / "tools" / "make_model_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = tool.render("toy_page")
    assert "# A toy model" in text and 'model = \\"toy_lenet\\"' in text and "n_masks = 7" in text


def test_a_name_cannot_be_registered_twice(toy):
    with pytest.raises(ValueError, match="already registered"):
        register(ModelRecord("toy_lenet", lambda c, k: LeNet5Mini(c, k), "lenet", "another"))


def test_without_the_registration_the_model_is_nowhere():
    assert "toy_lenet" not in MODELS
    assert not [e for e in mnist_grid() if e.model == "toy_lenet"]
    assert not [p for p in bookbuild.pages() if "toy" in p.source]
    assert reference.paper_row("toy_lenet", "mnist", ("conv1",), 0.5) is None
