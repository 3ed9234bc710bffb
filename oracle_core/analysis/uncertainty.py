"""How much of a setting's numbers is noise: from a setting retrained several times per mask, how reproducible its
final ranking is at all (the noise ceiling). Bootstrap intervals over masks: compute/stats.py, per panel
analysis/panel.py."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy.stats import chi2, kendalltau


def repeat_taus(masks: pd.DataFrame) -> dict[str, float]:
    """From one setting's rows (several retrainings per mask): how reproducible the final ranking is (tau between
    repeats, mean over pairs), the pruned-loss tau against one retraining (mean over repeats) and against the mean
    of all repeats, and how much one retraining attenuates |tau| relative to that mean (1 - single / mean)."""
    wide = masks.pivot_table(index="mask_id", columns="repeat", values="final_test_acc")
    loss = masks.groupby("mask_id")["pruned_train_loss"].first().loc[wide.index]
    reps = list(wide.columns)
    between = float(np.mean([kendalltau(wide[a], wide[b]).statistic for a, b in combinations(reps, 2)]))
    single = float(np.mean([kendalltau(loss, wide[r]).statistic for r in reps]))
    mean = float(kendalltau(loss, wide.mean(axis=1)).statistic)
    atten = 1 - abs(single) / abs(mean) if mean and not np.isnan(mean) else float("nan")
    return {"N": len(wide), "repeats": len(reps), "tau between repeats": between, "tau pruned loss vs one retraining":
            single, "tau pruned loss vs mean of repeats": mean, "attenuation by one retraining": atten,
            "median acc %": 100 * float(wide.mean(axis=1).median())}



def within_networks_range(paper_tau: float | None, taus: list[float]) -> bool | None:
    """Whether the paper's tau (one pretrained network's) lies within the range of our networks' taus: if it does,
    which network was pretrained can by itself account for a difference. None where the paper gives no tau. The
    one rule every page that sets the paper's tau against our networks reads."""
    if paper_tau is None or paper_tau != paper_tau or not taus:
        return None
    return bool(min(taus) <= paper_tau <= max(taus))


def heterogeneity(taus: list[float], ses: list[float]) -> dict[str, float]:
    """Whether several independent estimates of tau (e.g. from different pretrained networks, each with its own
    masks) differ by more than their standard errors allow: Cochran's Q = sum w (tau - weighted mean)^2 with
    w = 1 / se^2, against chi-square with k - 1 degrees of freedom. Also the estimates' standard deviation and the
    mean standard error, the two numbers a reader compares."""
    t, se = np.asarray(taus, float), np.asarray(ses, float)
    if len(t) < 2 or not np.all(se > 0):
        raise ValueError("heterogeneity needs two or more estimates, each with a positive standard error")
    w = 1 / se ** 2
    mean = float((w * t).sum() / w.sum())
    q = float((w * (t - mean) ** 2).sum())
    return {"k": len(t), "Q": q, "p": float(chi2.sf(q, len(t) - 1)), "sd between": float(t.std(ddof=1)),
            "mean se": float(se.mean()), "weighted mean": mean}


def between_network_variance(groups: list[tuple[list[float], list[float]]]) -> dict[str, float]:
    """The variance of tau from one pretrained network to another (tau^2 of a random-effects model), estimated by
    DerSimonian-Laird from every setting with two or more networks (each group: those networks' taus and bootstrap
    standard errors over their masks), pooled over settings by summing Q, its expectation and the weight terms:
    tau^2 = max(0, (Q - df) / (sum w - sum w^2 / sum w)). Returns tau2, the groups and networks it rests on."""
    q = df = c = 0.0
    used = nets = 0
    for taus, ses in groups:
        t, se = np.asarray(taus, float), np.asarray(ses, float)
        if len(t) < 2 or not np.all(se > 0):
            continue
        w = 1 / se ** 2
        mean = (w * t).sum() / w.sum()
        q += float((w * (t - mean) ** 2).sum())
        df += len(t) - 1
        c += float(w.sum() - (w ** 2).sum() / w.sum())
        used, nets = used + 1, nets + len(t)
    tau2 = max(0.0, (q - df) / c) if c > 0 else float("nan")
    return {"tau2": tau2, "sd": float(np.sqrt(tau2)) if tau2 == tau2 else float("nan"), "settings": used,
            "networks": nets, "Q": q, "df": df}


def agreement_halfwidth(se_ours: float, se_paper: float, tau2: float, z: float = 1.959964) -> float:
    """Half-width of the 95% interval for (our tau - the paper's tau) when both ran the same protocol: each is one
    pretrained network's draw (variance tau2 each) measured on its own masks (bootstrap variances), so
    var = se_ours^2 + se_paper^2 + 2 tau2. A difference inside it is what another network and other masks would
    give anyway: "agrees"; outside it: "differs"."""
    return z * float(np.sqrt(se_ours ** 2 + se_paper ** 2 + 2 * (0.0 if tau2 != tau2 else tau2)))
