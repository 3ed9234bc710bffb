"""Which protocol made the paper's points: its recovered per-mask points beside our runs of the same setting with the
correct sub-network and with the released code's wiring (each twin on the same pretrained network and masks).

Why: the paper's released code wires every mask but the L1 one wrongly (the next layer keeps the input channels of
the L1-kept filters), so the pruned losses and retrained accuracies it published may be those of mis-wired networks.
The pruned loss is measured before any retraining, so its distribution is the sharpest test of which sub-networks
were scored: a two-sample Kolmogorov-Smirnov distance on log pruned loss (scale-free, any shape) between the paper's
points and each of our twins, with its p-value; beside it the accuracies' median and IQR, tau and the anomaly ratio
(against the paper's oracle). Where several pretrained networks exist, the same distances per network say how far the
network alone moves them: a wiring is said to be the one the paper's points resemble only when its distance is
smaller by more than that spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

from ..experiment.grid import mnist_grid
from ..experiment.results import stored_result
from . import reference
from .names import model_name
from .oracle import paper_oracle

SOURCES = ("paper", "correct", "released_code")
COLUMNS = ("setting", "source", "seed", "n", "loss q10", "loss median", "loss q90", "KS to paper", "KS p",
           "acc median %", "acc IQR pp", "tau", "anomaly %")


def _row(setting: str, source: str, seed, loss: np.ndarray, acc: np.ndarray, paper_loss: np.ndarray | None,
         tau: float | None, anomaly: float | None) -> dict:
    q10, q50, q90 = np.percentile(loss, [10, 50, 90])
    ks = ks_2samp(np.log(loss), np.log(paper_loss)) if paper_loss is not None else None
    q1, q3 = np.percentile(acc, [25, 75])
    return {"setting": setting, "source": source, "seed": seed, "n": len(loss), "loss q10": q10, "loss median": q50,
            "loss q90": q90, "KS to paper": np.nan if ks is None else float(ks.statistic),
            "KS p": np.nan if ks is None else float(ks.pvalue), "acc median %": 100 * float(np.median(acc)),
            "acc IQR pp": 100 * float(q3 - q1), "tau": np.nan if tau is None else float(tau),
            "anomaly %": np.nan if anomaly is None else 100 * float(anomaly)}


def twin_settings(profile: str) -> list[tuple[str, str, str, float]]:
    """(model, dataset, layers, ratio) of every setting the grid runs under both wirings at ``profile`` and the
    paper published a panel for."""
    out = []
    for e in mnist_grid():
        key = (e.model, e.dataset, e.layers, e.ratio)
        if e.wiring == "released_code" and not e.seed and e.runs_at(profile) and key not in out and \
                reference.panel_name(e.model, e.dataset, e.layers, e.ratio):
            out.append(key)
    return out


def setting_name(model: str, dataset: str, layers: str, ratio: float) -> str:
    """The setting as the comparison names it: "conv1 @ 0.5" for LeNet5-Mini on MNIST, else with model/dataset."""
    return f"{layers} @ {ratio:g}" if (model, dataset) == ("lenet5_mini", "mnist") else \
        f"{model_name(model)} / {dataset} {layers} @ {ratio:g}"


def protocol_table(profile: str, results_root: Path | None = None) -> pd.DataFrame:
    """One row per (setting, source, pretrained network): the paper's recovered points, then each of our stored
    runs under each wiring (seed 0 is the figure's network; other seeds from the pretrain_seed experiment), with the
    columns of COLUMNS. A setting with no stored run of ours is left out (``queued`` names it)."""
    rows = []
    for model, dataset, layers, ratio in twin_settings(profile):
        name = setting_name(model, dataset, layers, ratio)
        panel = reference.panel_name(model, dataset, layers, ratio)
        pts = reference.paper_points(panel)
        ploss, pacc = pts["pruned_train_loss"].to_numpy(float), pts["final_test_acc"].to_numpy(float)
        ref = reference.paper_row(model, dataset, layers, ratio)
        paper_row = _row(name, "paper", "one, unseeded", ploss, pacc, None,
                         float(ref["kendall_tau"]), float(ref["anomaly_ratio_percent"]) / 100)
        ours = []
        for e in mnist_grid():
            if (e.model, e.dataset, e.layers, e.ratio) != (model, dataset, layers, ratio) or e.repeats or \
                    e.short_retrain or not e.runs_at(profile):
                continue
            res = stored_result(e.spec(profile), e.experiment, results_root)
            if res is None:
                continue
            pm = res.per_mask
            loss, acc = pm["pruned_train_loss"].to_numpy(float), pm["final_test_acc"].to_numpy(float)
            po = paper_oracle(res.summary)
            ours.append(_row(name, e.wiring, e.seed, loss, acc, ploss, res.summary["kendall_tau"], po.anomaly_ratio))
        if ours:
            rows += [paper_row, *ours]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def queued(profile: str, table: pd.DataFrame) -> list[str]:
    """The settings the grid runs under both wirings at ``profile`` that ``table`` (protocol_table) lacks: none of
    our runs of them is stored yet."""
    have = set(table["setting"])
    return [n for n in (setting_name(*k) for k in twin_settings(profile)) if n not in have]


def protocol_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per setting: the KS distance to the paper's points under each wiring (the figure's network, seed 0), the
    spread of that distance over pretrained networks where several exist, which wiring is nearer and whether by more
    than the networks move it. Columns: setting, KS correct, KS released, KS spread, nearer, settled, n networks."""
    out = []
    for setting, g in table.groupby("setting", sort=False):
        ks = {w: g[(g["source"] == w)]["KS to paper"] for w in ("correct", "released_code")}
        base = {w: g[(g["source"] == w) & (g["seed"] == 0)]["KS to paper"] for w in ks}
        if any(v.empty for v in base.values()):
            out.append({"setting": setting, "KS correct": base["correct"].mean() if len(base["correct"]) else np.nan,
                        "KS released": base["released_code"].mean() if len(base["released_code"]) else np.nan,
                        "KS spread": np.nan, "nearer": None, "settled": False,
                        "n networks": int(max(len(v) for v in ks.values()))})
            continue
        spreads = [float(v.max() - v.min()) for v in ks.values() if len(v) > 1]
        spread = max(spreads) if spreads else 0.0
        c, r = float(base["correct"].iloc[0]), float(base["released_code"].iloc[0])
        out.append({"setting": setting, "KS correct": c, "KS released": r, "KS spread": spread if spreads else np.nan,
                    "nearer": "released_code" if r < c else "correct",
                    "settled": abs(c - r) > spread, "n networks": int(max(len(v) for v in ks.values()))})
    return pd.DataFrame(out)

