"""Which criterion should a pruner use? Each criterion picks one mask from the same candidate set; we then read
off what that mask became after retraining (its final accuracy, rank among all masks, regret to the best mask)
and what the pick cost.

The criteria are a registry (``CRITERIA``): the oracle (lowest pruned train loss), L1-norm magnitude, first-order
Taylor (compute/scoring.py), random (the expectation over the candidates), and two retraining-aware ones read off
the same retraining run: test accuracy after the profile's short retraining (the lesson's "10% epochs") and the
mean training loss over the first retraining epoch. Adding a criterion is one ``register`` call with its scoring
function; ``compare`` gives it a row.

Costs are in model-images: one image through one pruned network forward = 1, a training step on one image = 3
(forward + backward is about three forwards).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..compute.recipe import Recipe
from ..compute.scoring import TAYLOR_IMAGES, l1_mask, taylor_mask, taylor_scores
from ..data import dataset_present, get_dataset_info, load_split, to_float
from ..experiment.results import StudyResult
from ..experiment.spec import profile_of
from ..experiment.store import PRETRAINED_PT
from ..models import build_model
from .lesson import short_retrain_acc


def dense_of(res: StudyResult) -> nn.Module:
    """The pretrained network of a stored result (weights_only load)."""
    info = get_dataset_info(res.spec.dataset)
    model = build_model(res.spec.model, info.in_channels, info.num_classes)
    model.load_state_dict(torch.load(Path(res.dir) / PRETRAINED_PT, map_location="cpu", weights_only=True))
    return model


@dataclass
class CriterionInputs:
    """What every criterion sees of one stored setting: the per-mask table (with the short-retrain accuracy and
    the first epoch's training loss), the image counts its costs are in, and the picks stored beside a sample."""

    res: StudyResult
    taylor_x: torch.Tensor | None = None
    taylor_y: torch.Tensor | None = None
    pm: pd.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        spec, info = self.res.spec, get_dataset_info(self.res.spec.dataset)
        self.train_images = spec.train_subset or info.n_train
        self.retrain_images = spec.retrain_subset or self.train_images
        self.loss_images = spec.loss_subset or self.train_images
        self.test_images = spec.test_subset or info.n_test
        curves = self.res.curves
        first = curves[curves["epoch"] == 1].groupby("mask_id")[["train_loss"]].mean()
        pm = self.res.per_mask.copy().set_index("mask_id")
        short = short_retrain_acc(self.res, Path(self.res.dir).parents[1])  # None: its separate run not stored yet
        pm["short_acc"] = float("nan") if short is None else short
        pm["epoch1_train_loss"] = first["train_loss"]
        self.pm = pm.reset_index()

    @property
    def n(self) -> int:
        return len(self.pm)

    @property
    def short(self) -> Recipe:
        return profile_of(self.res.spec).short_retrain

    @cached_property
    def dense(self) -> nn.Module:
        return dense_of(self.res)

    def stored_pick(self, tag: str) -> str | None:
        """The mask a criterion picked during the run (criteria_picks.csv), if it was retrained beside a sample."""
        stored = self.res.criteria_picks
        if not len(stored):
            return None
        hit = stored[stored["criterion"].str.split(" & ").apply(lambda names: tag in names)]
        return str(hit["kept"].iloc[0]) if len(hit) else None


@dataclass(frozen=True)
class Criterion:
    """One row of the comparison. ``pick``: a row of ``CriterionInputs.pm`` (int), a mask's text (str), or None (this
    criterion cannot pick here: no row). ``expectation``: the row is the mean over every candidate instead."""

    name: Callable[[CriterionInputs], str]
    pick: Callable[[CriterionInputs], int | str | None]
    cost: Callable[[CriterionInputs], float]
    how: Callable[[CriterionInputs], str]
    expectation: bool = False


CRITERIA: dict[str, Criterion] = {}


def register(key: str, criterion: Criterion) -> None:
    """Add (or replace) a criterion; rows appear in registration order."""
    CRITERIA[key] = criterion


def _taylor_pick(s: CriterionInputs) -> str | None:
    stored = s.stored_pick("Taylor")
    if stored is None and s.taylor_x is not None:
        spec = s.res.spec
        return taylor_mask(taylor_scores(s.dense, spec.layers, s.taylor_x, s.taylor_y), spec.ratio).text
    return stored


def _candidates(s: CriterionInputs) -> int:
    return int(s.res.summary.get("candidates", s.n))


register("oracle", Criterion(  # the paper's oracle: the argmin over every candidate, retrained beside a sample
    name=lambda s: "oracle (lowest pruned train loss)",
    pick=lambda s: s.res.summary.get("global_oracle_kept") or int(np.argmin(s.pm["pruned_train_loss"].to_numpy())),
    cost=lambda s: _candidates(s) * s.loss_images,
    how=lambda s: f"{_candidates(s)} pruned networks x {s.loss_images} training images, forward"))
register("L1", Criterion(
    name=lambda s: "L1 magnitude (largest mean |w|)",
    pick=lambda s: s.stored_pick("L1") or l1_mask(s.dense, s.res.spec.layers, s.res.spec.ratio).text,
    cost=lambda s: 0,
    how=lambda s: "weights only"))
register("Taylor", Criterion(
    name=lambda s: "first-order Taylor",
    pick=_taylor_pick,
    cost=lambda s: 3 * TAYLOR_IMAGES,
    how=lambda s: f"dense network, {TAYLOR_IMAGES} training images, forward + backward"))
register("random", Criterion(
    name=lambda s: "random (expectation)",
    pick=lambda s: None,
    cost=lambda s: 0,
    how=lambda s: "mean over the candidates",
    expectation=True))
def _short_pick(s: CriterionInputs) -> int | None:
    """The mask with the best short-retrain accuracy; None (no row) until every mask has one."""
    acc = s.pm["short_acc"].to_numpy(dtype=float)
    return None if np.isnan(acc).any() else int(np.argmax(acc))


register("short retraining", Criterion(
    name=lambda s: f"short retraining ({s.short.epochs} epoch(s)), best test acc",
    pick=_short_pick,
    cost=lambda s: s.n * (3 * s.short.epochs * s.retrain_images + s.short.epochs * s.test_images),
    how=lambda s: f"{s.n} masks x {s.short.epochs} epoch(s) on {s.retrain_images} images + test"))
register("first-epoch loss", Criterion(
    name=lambda s: "training loss over the first retraining epoch",
    pick=lambda s: int(np.argmin(s.pm["epoch1_train_loss"].to_numpy())),
    cost=lambda s: s.n * 3 * s.retrain_images,
    how=lambda s: f"{s.n} masks x 1 epoch on {s.retrain_images} images"))


def _row(s: CriterionInputs, c: Criterion, acc: np.ndarray, outside: pd.Series) -> dict | None:
    name, best = c.name(s), acc.max()
    if c.expectation:
        return {"criterion": name, "pick": "any", "final acc %": 100 * acc.mean(),
                "rank (1 = best)": float(np.mean([(acc > a).sum() + 1 for a in acc])),
                "regret (pp)": 100 * (best - acc.mean()), "cost (model-images)": c.cost(s), "how": c.how(s)}
    pick = c.pick(s)
    if pick is None:
        return None
    cost, how = c.cost(s), c.how(s)
    idx = pick if isinstance(pick, int) else {k: i for i, k in enumerate(s.pm["kept"])}.get(pick)
    if idx is None and pick in outside.index:  # retrained beside the sample: rank it among the sample
        a = float(outside[pick])
        return {"criterion": name, "pick": pick, "final acc %": 100 * a, "rank (1 = best)": int((acc > a).sum()) + 1,
                "regret (pp)": 100 * (best - a), "cost (model-images)": cost,
                "how": how + " (outside the sample: retrained beside it)"}
    if idx is None:
        return {"criterion": name, "pick": pick, "final acc %": np.nan, "rank (1 = best)": np.nan,
                "regret (pp)": np.nan, "cost (model-images)": cost, "how": how + " (not among the retrained masks)"}
    a = acc[idx]
    return {"criterion": name, "pick": s.pm["kept"].iloc[idx], "final acc %": 100 * a,
            "rank (1 = best)": int((acc > a).sum()) + 1, "regret (pp)": 100 * (best - a),
            "cost (model-images)": cost, "how": how}


def compare(res: StudyResult, taylor_x: torch.Tensor | None = None,
            taylor_y: torch.Tensor | None = None) -> pd.DataFrame:
    """One row per registered criterion for one stored setting: its pick, the pick's final accuracy, rank (1 = best
    of N), regret to the best mask (percentage points), selection cost (model-images) and the criterion's registry key
    (its short name). A criterion whose mask
    is not among the retrained candidates (L1/Taylor in a sampled setting) has no final accuracy: it says so."""
    s = CriterionInputs(res, taylor_x, taylor_y)
    acc = s.pm["final_test_acc"].to_numpy()
    stored = res.criteria_picks  # picks outside a sample, retrained beside it by the runner
    outside = stored.groupby("kept")["final_test_acc"].mean() if len(stored) else pd.Series(dtype=float)
    rows = [{**r, "key": k} for k, c in CRITERIA.items() if (r := _row(s, c, acc, outside)) is not None]
    out = pd.DataFrame(rows).set_index("criterion")
    out.attrs["n_masks"] = s.n
    return out


def criteria_table(settings: list, data_root: Path | None = None) -> pd.DataFrame:
    """Every stored setting x every criterion (``settings``: stored.StoredSetting, those without a result skipped):
    setting label, N, and compare()'s columns. Taylor scores the setting's first TAYLOR_IMAGES training images
    where the dataset is on this machine."""
    frames = []
    for c in settings:
        if c.result is None:
            continue
        tx = ty = None
        if dataset_present(c.entry.dataset, data_root):
            split = load_split(c.entry.dataset, True, data_root).head(TAYLOR_IMAGES)
            tx, ty = to_float(split.images, get_dataset_info(c.entry.dataset)), split.labels
        t = compare(c.result, tx, ty).reset_index()
        t.insert(0, "setting", c.label)
        t.insert(1, "N", c.result.summary["n_masks"])
        frames.append(t)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def criteria_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per criterion, across settings, leading with what a reader compares: mean and worst regret, median cost, then
    how many settings and how often it picked the best mask."""
    if table.empty:
        return table
    g = table.dropna(subset=["regret (pp)"]).groupby("criterion", sort=False)
    return pd.DataFrame({"mean regret (pp)": g["regret (pp)"].mean(), "worst regret (pp)": g["regret (pp)"].max(),
                         "median cost (model-images)": g["cost (model-images)"].median(), "settings": g.size(),
                         "picked the best mask": g["rank (1 = best)"].apply(lambda r: int((r == 1).sum()))})


@dataclass(frozen=True)
class RegretReading:
    """The lowest mean regret across settings and which criteria reach it (ties within 1e-9 pp)."""

    lowest: float
    best: tuple[str, ...]
    by_criterion: tuple[tuple[str, float, int], ...]  # (criterion, mean regret pp, settings), lowest first


def regret_reading(summary: pd.DataFrame) -> RegretReading | None:
    if summary.empty:
        return None
    s = summary.sort_values("mean regret (pp)")
    low = float(s["mean regret (pp)"].iloc[0])
    return RegretReading(low, tuple(k for k, v in s["mean regret (pp)"].items() if v <= low + 1e-9),
                         tuple((k, float(v), int(s.loc[k, "settings"])) for k, v in s["mean regret (pp)"].items()))
