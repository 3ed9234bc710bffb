"""The paper's trends along each axis of task complexity (pruning ratio, pruned layers, dataset, depth, width), and
whether our converged runs reproduce them, from collect.with_paper's table (pages/trends.py words them). A trend is
the sign of Kendall's tau between the axis position and the settings' taus (the paper reads a weaker oracle, tau
rising toward 0, as the task gets harder); ours is only read once at least MIN_POINTS converged settings of the axis
exist, at two or more places along it, or, where the axis's other settings cannot run on this machine (a dataset whose
files no registry holds: KMNIST), once every setting that can run here has converged, at two or more places. Ours is
read twice (study_trends): from the released-code twins, the runs compared with the paper's numbers (like with like),
and from the correctly wired runs, the study the paper intended."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from .collect import with_paper
from .like_for_like import tau_uncertainty

MIN_POINTS = 3  # converged settings an axis needs before our trend is read
SETTLED = 0.95  # share of resamples (masks and pretrained networks) in which our direction must hold
DRAWS, DRAW_SEED = 4000, 0


@dataclass(frozen=True)
class Axis:
    name: str
    harder: str  # what "further along" means, in words
    fixed: dict  # the columns held fixed (model, dataset, layers, ratio)
    vary: str  # the column that varies
    order: tuple  # its values, easiest first

    def holds(self, **setting) -> bool:
        """Whether a setting (model=, dataset=, layers=, ratio=) lies on this axis."""
        return (setting[self.vary] in self.order
                and all(setting[col] == val for col, val in self.fixed.items()))

    def position(self, value) -> float:
        """Where a value of the varying column lies along the axis (pruned layers: how many)."""
        return float(_layer_count(value)) if self.vary == "layers" else float(self.order.index(value))


def _layer_count(layers: str) -> int:
    return layers.count("+") + 1


AXES = (
    Axis("pruning ratio (conv1)", "more filters are removed", {"model": "lenet5_mini", "dataset": "mnist",
                                                                "layers": "conv1"}, "ratio",
         (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)),
    Axis("pruned layers", "more layers are pruned at once", {"model": "lenet5_mini", "dataset": "mnist", "ratio": 0.5},
         "layers", ("conv1", "conv2", "conv3", "conv1+conv2", "conv1+conv3", "conv2+conv3", "conv1+conv2+conv3")),
    Axis("dataset", "the dataset gets harder", {"model": "lenet5_mini", "layers": "conv1", "ratio": 0.5}, "dataset",
         ("mnist", "fashion_mnist", "kmnist")),
    Axis("depth", "the network gets deeper", {"dataset": "mnist", "layers": "conv1", "ratio": 0.5}, "model",
         ("lenet5_mini", "lenet5_mini_d6", "lenet5_mini_d7", "lenet5_mini_d8")),
    Axis("width", "the network gets wider", {"dataset": "mnist", "layers": "conv1", "ratio": 0.5}, "model",
         ("lenet5_mini", "lenet5_mini_w20", "lenet5_mini_w30", "lenet5_mini_w40")),
)


def _direction(pos: list[float], tau: list[float]) -> int:
    """+1: tau rises along the axis (a weaker oracle), -1: falls, 0: no clear order (tau of the two is 0 or nan)."""
    if len(pos) < 2:
        return 0
    t = kendalltau(pos, tau).statistic
    return 0 if t != t or t == 0 else (1 if t > 0 else -1)


def direction_holds(pos: list[float], tau: list[float], se: list[float], tau2: float, direction: int,
                    draws: int = DRAWS, seed: int = DRAW_SEED) -> float:
    """The share of resampled axes on which our direction holds: each setting's tau drawn from a normal with its
    bootstrap variance over masks plus the between-network variance (random-effects: another sample of masks and
    another pretrained network), the direction recomputed on every draw."""
    rng = np.random.default_rng(seed)
    sd = np.sqrt(np.asarray(se, float) ** 2 + (0.0 if tau2 != tau2 else tau2))
    sims = np.asarray(tau, float) + rng.standard_normal((draws, len(tau))) * sd
    return float(np.mean([_direction(pos, list(row)) == direction for row in sims]))


def trends(table: pd.DataFrame, uncertainty: tuple[dict, float] | None = None,
           cannot_run: Collection[str] = ()) -> pd.DataFrame:
    """One row per axis: the paper's direction and range, ours on the converged settings, and whether ours
    reproduces it: 'yes' or 'no' when our direction holds in at least SETTLED of the resamples ('direction holds'),
    'not settled' when it does not, 'not yet' until enough converged settings exist. ``uncertainty``: (setting key
    (model, dataset, layers, ratio) -> tau's bootstrap standard error, between-network variance), from
    like_for_like.tau_uncertainty; without it a direction is read as settled (the earlier rule). ``cannot_run``:
    values of an axis that cannot run here (stored.cannot_run's datasets); an axis whose every other setting has
    converged is read without them ('cannot run here' names them)."""
    rows = []
    for axis in AXES:
        sel = table[table[axis.vary].isin(axis.order)]
        for col, val in axis.fixed.items():
            sel = sel[sel[col] == val]
        sel = sel.assign(_pos=[axis.position(v) for v in sel[axis.vary]]).sort_values("_pos", kind="stable")
        paper = sel.dropna(subset=["paper_tau"])
        ours = sel[sel["profile"].notna() & ~sel["under_trained"].astype(bool)].dropna(subset=["our_tau"])
        converged = set(ours[axis.vary])
        p_dir = _direction(list(paper["_pos"]), list(paper["paper_tau"]))
        missing = [v for v in paper[axis.vary] if v not in converged]
        unrunnable = tuple(v for v in missing if v in cannot_run)
        enough = len(ours) >= MIN_POINTS or (bool(missing) and len(unrunnable) == len(missing))
        readable = enough and ours["_pos"].nunique() >= 2  # at least two places along the axis
        o_dir = _direction(list(ours["_pos"]), list(ours["our_tau"])) if readable else None
        holds = float("nan")
        if o_dir is not None and uncertainty is not None:
            ses, tau2 = uncertainty
            se = [ses.get((m, d, la, r), float("nan")) for m, d, la, r in
                  zip(ours["model"], ours["dataset"], ours["layers"], ours["ratio"])]
            if all(x == x for x in se):
                holds = direction_holds(list(ours["_pos"]), list(ours["our_tau"]), se, tau2, o_dir)
        settled = o_dir is not None and (holds != holds or holds >= SETTLED)
        rows.append({
            "axis": axis.name, "harder": axis.harder, "settings": len(paper),
            "paper direction": p_dir, "paper first": paper["paper_tau"].iloc[0] if len(paper) else float("nan"),
            "paper last": paper["paper_tau"].iloc[-1] if len(paper) else float("nan"),
            "converged ours": len(ours), "our direction": o_dir,
            "our first": ours["our_tau"].iloc[0] if len(ours) else float("nan"),
            "our last": ours["our_tau"].iloc[-1] if len(ours) else float("nan"),
            "direction holds": holds,
            "reproduced": "not yet" if o_dir is None else "not settled" if not settled else (
                "yes" if o_dir == p_dir else "no"),
            "not yet ours": tuple(missing), "cannot run here": unrunnable,
        })
    return pd.DataFrame(rows).set_index("axis")


READ_ORDER = ("released_code", "correct")  # wirings: the like-for-like reading first, then the study the paper intended


def study_trends(runs: pd.DataFrame, profile: str, root: Path | None = None,
                 cannot_run: Collection[str] = ()) -> dict[str, pd.DataFrame]:
    """wiring -> trends(...) at ``profile`` for each of READ_ORDER: the released-code twins (the runs a published tau
    is compared with) and the correctly wired runs, each with its own settings' bootstrap errors; ``cannot_run`` as
    trends takes it."""
    return {w: trends(with_paper(runs, profile, wiring=w), tau_uncertainty(profile, root, wiring=w), cannot_run)
            for w in READ_ORDER}
