"""Correlation statistics exactly as PROTOCOL.md defines them: Kendall tau-b, the oracle, the anomaly ratio, and
their bootstrap intervals over masks. Arrays in, numbers out: no files, no paper numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import kendalltau


def per_mask(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per mask: retraining metrics averaged over repeats (the paper averages its 3 repeats)."""
    agg = rows.groupby("mask_id", sort=False).agg(
        kept=("kept", "first"), pruned_train_loss=("pruned_train_loss", "first"),
        pruned_train_acc=("pruned_train_acc", "first"), final_test_acc=("final_test_acc", "mean"),
        final_test_loss=("final_test_loss", "mean"), final_train_loss=("final_train_loss", "mean"),
        repeats=("repeat", "count"))
    return agg.reset_index()


def kendall(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Kendall tau-b and its two-sided p (scipy); NaN when either side is constant."""
    res = kendalltau(x, y)
    return float(res.statistic), float(res.pvalue)


def oracle_index(pruned_loss: np.ndarray) -> int:
    """The oracle: argmin of pruned train loss (first in mask order on a tie)."""
    return int(np.argmin(pruned_loss))


def anomaly_mask(values: np.ndarray, oracle: int, higher_is_better: bool = True) -> np.ndarray:
    """Masks strictly better than the oracle after retraining."""
    return values > values[oracle] if higher_is_better else values < values[oracle]


def analyze(x: np.ndarray, acc: np.ndarray, loss: np.ndarray | None = None) -> dict[str, float | int]:
    """tau/p/anomaly ratio of pruned train loss (x) against final accuracy and, if given, final test loss."""
    x, acc = np.asarray(x, float), np.asarray(acc, float)
    o = oracle_index(x)
    tau, p = kendall(x, acc)
    out: dict[str, float | int] = {
        "n_masks": len(x), "kendall_tau": tau, "p_value": p, "oracle_index": o,
        "anomaly_ratio": float(anomaly_mask(acc, o).sum() / len(x)),
    }
    if loss is not None:
        loss = np.asarray(loss, float)
        tau_l, p_l = kendall(x, loss)
        out.update(kendall_tau_loss=tau_l, p_value_loss=p_l,
                   anomaly_ratio_loss=float(anomaly_mask(loss, o, higher_is_better=False).sum() / len(x)))
    return out


def summarize(pm: pd.DataFrame) -> dict[str, object]:
    """summary.json of one setting, from its per-mask table."""
    stats = analyze(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy(),
                    pm["final_test_loss"].to_numpy())
    o = int(stats.pop("oracle_index"))
    acc = pm["final_test_acc"].to_numpy()
    summary: dict[str, object] = dict(stats)
    summary.update(
        oracle_mask_id=str(pm["mask_id"].iloc[o]), oracle_kept=str(pm["kept"].iloc[o]),
        oracle_pruned_train_loss=float(pm["pruned_train_loss"].iloc[o]),
        oracle_final_test_acc=float(acc[o]), oracle_final_test_loss=float(pm["final_test_loss"].iloc[o]),
        oracle_acc_rank=int((acc > acc[o]).sum()) + 1,  # 1 = no mask beats the oracle
        final_acc_median=float(np.median(acc)), final_acc_best=float(acc.max()), final_acc_worst=float(acc.min()),
        best_mask_id=str(pm["mask_id"].iloc[int(np.argmax(acc))]),
        repeats_per_mask=int(pm["repeats"].min()) if "repeats" in pm else 1,
    )
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in summary.items()}


def bootstrap(x: np.ndarray, acc: np.ndarray, n_boot: int = 1000, seed: int = 0,
              level: float = 0.95) -> dict[str, object]:
    """Percentile bootstrap over masks (resampled with replacement) of Kendall tau and the anomaly ratio, and tau's
    bootstrap standard error from the same resamples (one number several estimates' errors can be combined with).

    Each resample recomputes everything, the oracle included (argmin pruned loss among the drawn masks), so the
    interval says how much the numbers depend on which masks happened to be drawn, not on retraining noise
    (that is the noise ceiling's job). Seeded: the same inputs give the same interval."""
    x, acc = np.asarray(x, float), np.asarray(acc, float)
    n = len(x)
    rng = np.random.default_rng(seed)
    taus, anomalies = np.empty(n_boot), np.empty(n_boot)
    for b in range(n_boot):
        i = rng.integers(0, n, n)
        xs, ys = x[i], acc[i]
        taus[b] = kendalltau(xs, ys).statistic
        anomalies[b] = float((ys > ys[int(np.argmin(xs))]).mean())
    lo, hi = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    ok = taus[~np.isnan(taus)]
    tau_ci = (float(np.percentile(ok, lo)), float(np.percentile(ok, hi))) if len(ok) else (math.nan, math.nan)
    return {"kendall_tau": tau_ci,
            "anomaly_ratio": (float(np.percentile(anomalies, lo)), float(np.percentile(anomalies, hi))),
            "kendall_tau_se": float(ok.std(ddof=1)) if len(ok) > 1 else math.nan}
