"""Which mask is "the oracle", as the paper defines it: the lowest pruned train loss over the setting's whole candidate
set (every mask of one layer at 0.5; the paper's 1000-mask sample otherwise), not over the masks we retrained.

Why: a converged run retrains a seeded uniform sample of the candidates, and the argmin of pruned loss within that
sample is a weaker mask than the paper's oracle. The runner retrains the paper's oracle beside the sample
(``summary.json``'s ``global_oracle_*``), so its rank and anomaly ratio are read against the sample, re-read from what
is stored, never re-run: the anomaly ratio is the share of the retrained uniform sample that ends strictly above the
oracle's final accuracy (tau over a uniform sample estimates tau over all candidates and does not change). Where every
candidate was retrained, the two oracles are one mask. The within-sample argmin stays as a second, labelled marker.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..compute.stats import per_mask

BOOT_RESAMPLES, BOOT_SEED = 1000, 0  # as compute.stats.bootstrap: the same seeded resamples on every page


@dataclass(frozen=True)
class PaperOracle:
    """The paper's oracle of one run and how the retrained sample ranks against it."""

    mask_id: str
    kept: str
    pruned_train_loss: float
    final_test_acc: float
    rank: int  # 1 + the number of retrained (sampled) masks strictly above it
    anomaly_ratio: float  # share of the retrained sample strictly above it
    anomaly_ci: tuple[float, float]  # 95% bootstrap interval over the sample's masks
    scope: str  # "all candidates" (the paper's definition) or "the retrained masks" (an older run without it)
    candidates: int
    n: int  # masks in the retrained sample
    within_mask_id: str  # the argmin of pruned loss within the sample (the same mask when every mask was retrained)
    within_rank: int
    within_anomaly_ratio: float

    @property
    def differs_from_within(self) -> bool:
        return self.mask_id != self.within_mask_id


def share_above(acc: np.ndarray, threshold: float) -> float:
    return float((np.asarray(acc, float) > threshold).mean()) if len(acc) else 0.0


def anomaly_interval(acc: np.ndarray, threshold: float, resamples: int = BOOT_RESAMPLES,
                     seed: int = BOOT_SEED) -> tuple[float, float]:
    """95% percentile bootstrap interval of the share of masks strictly above a fixed oracle accuracy."""
    acc = np.asarray(acc, float)
    if len(acc) < 2:
        return (share_above(acc, threshold),) * 2
    idx = np.random.default_rng(seed).integers(0, len(acc), (resamples, len(acc)))
    shares = (acc[idx] > threshold).mean(1)
    return float(np.percentile(shares, 2.5)), float(np.percentile(shares, 97.5))


def paper_oracle(summary: dict, sample_acc: np.ndarray | None = None) -> PaperOracle:
    """The paper's oracle from a run's summary (and, for the interval, the sample's per-mask final accuracies)."""
    n = int(summary.get("n_masks") or 1)  # a stored summary has every key (records.SUMMARY_SCHEMA); a partial one
    glob = summary.get("global_oracle_mask_id") is not None and "global_oracle_final_test_acc" in summary
    pre = "global_oracle_" if glob else "oracle_"
    nan = float("nan")
    acc_o = float(summary.get(f"{pre}final_test_acc", nan))
    rank = int(summary["global_oracle_acc_rank"] if glob else summary.get("oracle_acc_rank", 0))
    ratio = (rank - 1) / n if glob else float(summary["anomaly_ratio"])
    ci = anomaly_interval(sample_acc, acc_o) if sample_acc is not None else (ratio, ratio)
    return PaperOracle(
        mask_id=str(summary.get(f"{pre}mask_id", "")), kept=str(summary.get(f"{pre}kept", "")),
        pruned_train_loss=float(summary.get(f"{pre}pruned_train_loss", nan)), final_test_acc=acc_o, rank=rank,
        anomaly_ratio=ratio, anomaly_ci=ci,
        scope="all candidates" if glob or int(summary.get("candidates", n)) == n else "the retrained masks",
        candidates=int(summary.get("candidates", n)), n=n, within_mask_id=str(summary.get("oracle_mask_id", "")),
        within_rank=int(summary.get("oracle_acc_rank", 0)), within_anomaly_ratio=float(summary["anomaly_ratio"]))

OUTCOMES = ("pruned_train_loss", "final_test_acc", "final_test_loss", "final_train_loss")


def oracle_row(summary: dict, sample: pd.DataFrame, picks: pd.DataFrame) -> dict | None:
    """The paper's oracle's retrained row (its pruned loss and every outcome, repeats averaged), from the sample's
    per-mask table or from the criteria's picks retrained beside it; None when the run retrained every candidate
    (the argmin of its points is then the paper's oracle) or did not retrain it."""
    mid = summary.get("global_oracle_mask_id")
    if not mid:
        return None
    if mid in set(sample["mask_id"]):
        row = sample[sample["mask_id"] == mid].iloc[0]
    elif len(picks) and mid in set(picks["mask_id"]):
        row = per_mask(picks[picks["mask_id"] == mid].drop(columns=["criterion"], errors="ignore")).iloc[0]
    else:
        return None
    return {"mask_id": str(mid), "kept": str(row["kept"]), **{k: float(row[k]) for k in OUTCOMES if k in row}}


def result_oracle(result) -> dict | None:
    """``oracle_row`` of a finished StudyResult (None when it has none: see there)."""
    return oracle_row(result.summary, result.per_mask, result.criteria_picks)
