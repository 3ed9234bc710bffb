"""One declarative record per model: how to build it and everything the rest of the package needs to know about it,
in one place. The registry (``MODELS``), the recipe family (experiment/protocol.py), the MNIST grid's settings, the
paper's reference rows and panels (analysis/reference.py), the large-model page, the book's page list
(pages/build.py) and the single-setting notebooks (tools/make_model_notebooks.py) all read these records, so adding
a model is one module with its ``nn.Module`` plus one ``register(ModelRecord(...))``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn


@dataclass(frozen=True)
class PaperRecord:
    """Which of the paper's published numbers a model reproduces: its row in reference_results.csv (matched on
    ``model``, ``dataset`` and ``layers_text``) and its scatter panel in paper_points.csv.

    A setting of this model matches when its dataset is ``dataset`` and it prunes ``n_layers`` layers (a pattern
    such as ``layer*.conv1``) or exactly ``layers``. ``panel`` may hold ``{ratio}`` (the panel of each ratio)."""

    model: str  # the model name in the paper's reference rows
    dataset: str
    panel: str  # e.g. "resnet56/layer*.conv1_0.5" or "diff/d6_conv1_{ratio}"
    title: str  # how the paper's figure names it: "ResNet56 / CIFAR-10"
    layers_text: str = ""  # reference_results.csv's layers column ("" = the layer names joined by '+')
    n_layers: int = 0  # match on the number of pruned layers (a pattern); 0 = match ``layers`` exactly
    layers: tuple[str, ...] = ("conv1",)
    ratios: tuple[float, ...] = (0.5,)  # the ratios the paper published for it
    figure: int = 0  # the paper's figure (3: the large models)

    def matches(self, dataset: str, layers: tuple[str, ...], ratio: float) -> bool:
        hit_layers = len(layers) == self.n_layers if self.n_layers else tuple(layers) == self.layers
        return dataset == self.dataset and hit_layers and any(abs(ratio - r) < 1e-9 for r in self.ratios)

    def panel_for(self, ratio: float) -> str:
        return self.panel.format(ratio=f"{ratio:g}")


@dataclass(frozen=True)
class PageRecord:
    """A model's single-setting page: its notebook (notebooks/<notebook>.ipynb, written by
    tools/make_model_notebooks.py from this record), the book page it becomes, and the notebook's parameters."""

    notebook: str  # notebooks/<notebook>.ipynb and book/experiments/<notebook>.ipynb
    title: str
    intro: str  # the page's opening paragraph (markdown)
    experiment: str  # results/<experiment>/
    layers: str  # the default --layers
    layer_note: str
    model_note: str
    n_masks: int = 1000
    profile: str = "paper"
    profiles_note: str = "paper (GPU), cpu (a labelled 2-core reduction, not the protocol), smoke"
    dataset_note: str = "the torchvision dataset; missing files stop with where to put them"
    n_masks_note: str = "masks sampled without duplicates (the profile may cap it)"
    parent: str = ""  # the notebook of the page this one is a section of ("" = a chapter of its own)
    after: str = "lenet_grid"  # a chapter's place in the book: right after this notebook's page


@dataclass(frozen=True)
class GridSetting:
    """One setting of this model in the MNIST-family grid (experiment/grid.py)."""

    experiment: str
    layers: str = "conv1"
    ratio: float = 0.5
    n_masks: int = 0  # 0 = every mask; else the paper's sample size


@dataclass(frozen=True)
class ModelRecord:
    """Everything about one model. ``make`` builds it: (in_channels, num_classes) -> module."""

    name: str
    make: Callable[[int, int], nn.Module]
    family: str  # selects the recipe family and its profiles in experiment/protocol.py
    description: str
    dataset: str = ""  # the dataset its page and grid settings use
    paper: PaperRecord | None = None
    page: PageRecord | None = None
    grid: tuple[GridSetting, ...] = ()
    for_tests: bool = False  # a small model of the same structure, for tests only
    label: str = ""  # how the book names it ("" = the paper's name for it, else the registry name)

    @property
    def display(self) -> str:
        """The model's name on every page: its label, else the paper's (its figure title before " / "), else the
        registry name, so a table, a chart and a sentence never name one model two ways."""
        return self.label or (self.paper.title.split(" / ")[0] if self.paper else self.name)
