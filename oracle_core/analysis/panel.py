"""What one scatter panel states: each mask's role (the oracle, an anomaly that beats it after retraining, or
another mask), Kendall tau, p, the anomaly ratio and their 95% bootstrap intervals. Computed here so that the
chart only draws numbers it is given."""

from __future__ import annotations

import numpy as np

from ..compute.stats import analyze, bootstrap


def scatter_stats(x: np.ndarray, y: np.ndarray, higher_is_better: bool = True) -> dict:
    """Roles, ranks (1 = best outcome) and statistics of one panel of pruned train loss ``x`` against an outcome
    ``y``. For an outcome where lower is better (a test loss) tau is reported with the outcome's own sign and the
    anomalies are the masks whose outcome is lower than the oracle's."""
    x, yv = np.asarray(x, float), np.asarray(y, float)
    signed = yv if higher_is_better else -yv
    stats = analyze(x, signed)
    o = int(stats["oracle_index"])
    better = yv > yv[o] if higher_is_better else yv < yv[o]
    roles = ["anomaly" if b else "other" for b in better]
    roles[o] = "oracle"
    ranks = (-signed).argsort(kind="stable").argsort() + 1  # 1 = the best outcome after retraining
    ci = bootstrap(x, signed)
    t_lo, t_hi = ci["kendall_tau"] if higher_is_better else (-ci["kendall_tau"][1], -ci["kendall_tau"][0])
    return {"roles": roles, "ranks": ranks.tolist(),
            "kendall_tau": stats["kendall_tau"] if higher_is_better else -stats["kendall_tau"],
            "p_value": stats["p_value"], "anomaly_ratio": stats["anomaly_ratio"], "tau_ci": (t_lo, t_hi),
            "anomaly_ci": ci["anomaly_ratio"], "tau_se": ci["kendall_tau_se"], "n": len(x)}
