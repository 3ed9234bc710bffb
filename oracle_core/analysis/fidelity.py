"""What a reduction changes, measured: the same masks under several profiles compared with the most thorough one
(profile_fidelity), and every setting two profiles both ran compared (short_vs_full). The profiles page words and
charts these; the reasons for each profile are the protocol's own (profiles_table)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy.stats import kendalltau

from ..experiment.grid import GridEntry
from ..experiment.protocol import profile_table
from ..experiment.results import stored_result
from . import collect, reference
from .oracle import paper_oracle


def profiles_table() -> list[dict]:
    """Every profile with its recipe and why it exists (experiment.protocol's table)."""
    return profile_table()


@dataclass(frozen=True)
class Fidelity:
    """One setting's masks under several profiles. ``table``: one row per profile and the paper's (recipe, N, tau,
    anomaly ratio, the oracle's pick, median accuracy, and how alike its pruned losses and final accuracies rank the
    masks against ``reference``'s); ``frame``: each reduced profile's final accuracy per mask beside the reference's.
    Both None with ``missing`` naming the profiles without a run when fewer than two (or no reference) exist."""

    entry: GridEntry
    reference: str
    missing: tuple[str, ...]
    table: pd.DataFrame | None = None
    frame: pd.DataFrame | None = None
    n_masks: int = 0
    paper_tau: float = float("nan")


def profile_fidelity(results_root: Path | None = None, profiles: tuple[str, ...] = ("cpu", "cpu_15k", "cpu_single"),
                     entry: GridEntry = GridEntry("lenet_mnist", "conv1", 0.5)) -> Fidelity:
    """The same masks of one LeNet5-Mini/MNIST setting (correct wiring, same pretrained network) under ``profiles``,
    each compared with the last (the most thorough)."""
    e = entry
    res = {p: r for p in profiles if (r := stored_result(e.spec(p), e.experiment, results_root)) is not None}
    ref_name = profiles[-1]
    missing = tuple(p for p in profiles if p not in res)
    if len(res) < 2 or ref_name not in res:
        return Fidelity(e, ref_name, missing)
    base = res[ref_name].per_mask.set_index("mask_id")
    paper = reference.paper_row(e.model, e.dataset, e.layers, e.ratio)
    rows, frames = {}, []
    for p, r in res.items():
        pm = r.per_mask.set_index("mask_id").loc[base.index]
        s = r.spec
        rows[p] = {"retraining epochs": s.retrain.epochs, "retraining images": s.retrain_subset or "all",
                   "pruned-loss images": s.loss_subset or "all",
                   "N": r.summary["n_masks"], "tau (pruned loss vs final acc)": r.summary["kendall_tau"],
                   "anomaly %": 100 * paper_oracle(r.summary).anomaly_ratio,
                   "oracle's pick": paper_oracle(r.summary).kept,
                   "median final acc %": 100 * r.summary["final_acc_median"],
                   f"tau of pruned losses vs {ref_name}": kendalltau(pm["pruned_train_loss"],
                                                                     base["pruned_train_loss"]).statistic,
                   f"tau of final accs vs {ref_name}": kendalltau(pm["final_test_acc"],
                                                                  base["final_test_acc"]).statistic,
                   "retraining wall time (s)":
                       round(r.env.get("wall_s_this_invocation", {}).get("retrain_s", float("nan")))}
        if p != ref_name:
            frames.append(pd.DataFrame({"profile": p, "reference": base["final_test_acc"],
                                        "this": pm["final_test_acc"]}))
    rows["paper"] = {"retraining epochs": int(paper["retrain_epochs"]), "retraining images": "all",
                     "pruned-loss images": "all", "N": int(paper["n_masks"]),
                     "tau (pruned loss vs final acc)": float(paper["kendall_tau"]),
                     "anomaly %": float(paper["anomaly_ratio_percent"]), "oracle's pick": "n/a",
                     "median final acc %": float(paper["final_acc_median_percent"])}
    return Fidelity(e, ref_name, missing, pd.DataFrame(rows).T, pd.concat(frames), len(base),
                    float(paper["kendall_tau"]))


@dataclass(frozen=True)
class ShortVsFull:
    """Every setting both profiles finished (``pairs``: collect.profile_pairs), read: the range of the full
    profile's median-accuracy lead, how many short runs are under-trained, in how many the short tau is more
    negative (and the median change), in how many its anomaly ratio is lower."""

    short: str
    full: str
    pairs: pd.DataFrame
    gap_lo: float
    gap_hi: float
    n_under: int
    lower_tau: int
    dtau: float
    fewer_anomalies: int

    @property
    def n(self) -> int:
        return len(self.pairs)

    @property
    def flatters_the_oracle(self) -> bool:
        """The short profile makes tau more negative in most settings: the oracle looks better than it is."""
        return 2 * self.lower_tau > self.n


def short_vs_full(results_root: Path | None = None, short: str = "cpu", full: str = "converged") -> ShortVsFull | None:
    """None until some setting has finished runs at both profiles."""
    t = collect.profile_pairs(collect.runs_table(results_root), short, full)
    if t.empty:
        return None
    gap = t[f"median_acc_% {full}"] - t[f"median_acc_% {short}"]
    return ShortVsFull(short, full, t, float(gap.min()), float(gap.max()), int(t[f"under-trained {short}"].sum()),
                       int((t[f"tau {short}"] < t[f"tau {full}"]).sum()),
                       float((t[f"tau {short}"] - t[f"tau {full}"]).median()),
                       int((t[f"anomaly_% {short}"] < t[f"anomaly_% {full}"]).sum()))
