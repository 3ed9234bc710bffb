"""Retrainings that end no better than naming one class for every test image: a collapsed network. With a layer
pruned to two filters, the retrained network can lose both ReLU channels (every image then gets the same answer) or
one of them, and its final accuracy says which happened: exactly the share of the test set's most common class, or
far below a healthy run.

Why: a setting whose median final accuracy ends far from the paper's must be left out of the comparison with a
measured reason, not a guess. Counting collapsed retrainings, in our run, in its other wiring and among the paper's
recovered points, is a reading the store holds for every setting."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import get_dataset_info
from ..experiment.results import StudyResult
from . import reference
from .agreement import below_paper
from .like_for_like import Verdict, network_verdict
from .stored import stored_settings

__all__ = ["CHANCE_MARGIN_PP", "Collapse", "NetworkTwin", "count", "network_twins", "paper_collapse", "result_collapse",
           "setting_collapses"]

CHANCE_MARGIN_PP = 1.0  # a final accuracy at most this many points above the one-class accuracy: collapsed


@dataclass(frozen=True)
class Collapse:
    """How many retrainings of one run ended collapsed, out of how many, against which one-class accuracy."""

    n: int  # final accuracies within CHANCE_MARGIN_PP of ``chance``
    of: int  # final accuracies counted (a mask and repeat each; the paper's points are means of 3 repeats)
    chance: float  # the accuracy of naming the test set's most common class for every image (fraction)
    lowest: float  # the lowest final accuracy (fraction)
    median: float  # the median final accuracy (fraction)

    @property
    def limit(self) -> float:
        """The highest final accuracy counted as collapsed (fraction)."""
        return self.chance + CHANCE_MARGIN_PP / 100


def count(final_acc, chance: float) -> Collapse:
    """The Collapse reading of final test accuracies ``final_acc`` (fractions) against a one-class accuracy."""
    acc = np.asarray(final_acc, float)
    acc = acc[~np.isnan(acc)]
    if not len(acc):
        return Collapse(0, 0, chance, float("nan"), float("nan"))
    return Collapse(int((acc <= chance + CHANCE_MARGIN_PP / 100 + 1e-12).sum()), len(acc), chance, float(acc.min()),
                    float(np.median(acc)))


def result_collapse(res: StudyResult) -> Collapse:
    """Every retraining (mask and repeat) of one stored run, against its dataset's one-class accuracy."""
    return count(res.masks["final_test_acc"], get_dataset_info(res.spec.dataset).test_majority_share)


def paper_collapse(model: str, dataset: str, layers: str, ratio: float) -> Collapse | None:
    """The paper's recovered points of that setting (each a mean over its 3 repeats), or None without a panel."""
    panel = reference.panel_name(model, dataset, layers, ratio)
    if panel is None:
        return None
    return count(reference.paper_points(panel)["final_test_acc"], get_dataset_info(dataset).test_majority_share)


def setting_collapses(profile: str, model: str, dataset: str, layers: str, ratio: float,
                      root: Path | None = None) -> dict[str, Collapse]:
    """wiring ("correct", "released_code") -> the Collapse of that setting's grid run at ``profile`` (the first
    pretrained network, one retraining per mask) where it is stored, and "paper" -> the paper's points where it
    published a panel."""
    out = {}
    for wiring in ("correct", "released_code"):
        found = stored_settings(profile, None, root, wiring=wiring, where=lambda e: (
            e.model, e.dataset, e.layers, float(e.ratio)) == (model, dataset, layers, float(ratio)))
        if found and found[0].result is not None:
            out[wiring] = result_collapse(found[0].result)
    paper = paper_collapse(model, dataset, layers, ratio)
    if paper is not None:
        out["paper"] = paper
    return out


@dataclass(frozen=True)
class NetworkTwin:
    """The released-code twin of one setting from another pretrained network (grid seed > 0, its own sample of
    masks): its Collapse and whether it too ends far below the paper's accuracy (agreement.under_trained)."""

    seed: int
    collapse: Collapse
    short: bool
    verdict: Verdict | None = None  # its tau against the paper's by the verdicts' rule (like_for_like.network_verdict)


def network_twins(profile: str, model: str, dataset: str, layers: str, ratio: float,
                  root: Path | None = None) -> tuple[NetworkTwin, ...]:
    """The setting's released-code twins from the other pretrained networks stored at ``profile`` (the
    pretrain_seed experiment), by seed. Whether the pretrained network alone can account for a twin far below the
    paper's accuracy is then measured: if another network's twin reaches the paper's accuracy, it can."""
    out = []
    for c in stored_settings(profile, "pretrain_seed", root, wiring="released_code", where=lambda e: (
            e.model, e.dataset, e.layers, float(e.ratio)) == (model, dataset, layers, float(ratio))):
        if c.result is not None:
            k = result_collapse(c.result)
            out.append(NetworkTwin(c.entry.seed, k, below_paper(model, dataset, layers, ratio, 100 * k.median),
                                   network_verdict(c, root)))
    return tuple(sorted(out, key=lambda t: t.seed))
