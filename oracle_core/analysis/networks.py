"""The same setting from several pretrained networks: how far tau moves when only the network changes.

The paper's code seeds nothing, so each of its taus comes from one pretrained network among many. Seed 0 is the
figure's run; each other seed pretrains its own network and draws its own sample of masks. One row per network
(tau with its bootstrap interval over that network's masks), and per setting a NetworkReading: whether the networks
differ by more than the masks drawn explain (Cochran's Q), their spread, and where the paper's tau lies."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..compute.surgery import WIRINGS
from . import reference
from .agreement import below_paper
from .oracle import result_oracle
from .panel import scatter_stats
from .stored import stored_settings
from .uncertainty import between_network_variance, heterogeneity, within_networks_range

HETEROGENEITY_P = 0.05  # Cochran's Q p-value below which the pretrained networks' taus are read as different


def pretrained_networks(profile: str, results_root: Path | None = None) -> pd.DataFrame:
    """One row per stored network of every setting run from two or more (index: the setting's label), under each
    wiring stored (``wiring``: "correct", the study the paper intended, or "released_code", the twin run as the
    paper's code ran, on the same networks and masks): seed, N, tau, its 95% interval and standard error over that
    network's masks, anomaly ratio (the paper's oracle), median accuracy, and the paper's tau."""
    def key(e) -> tuple:  # the wiring too: a released-code twin is another protocol, not another network
        return e.model, e.dataset, e.layers, e.ratio, e.wiring

    rows = []
    for wiring in WIRINGS:
        others = [c for c in stored_settings(profile, "pretrain_seed", results_root, wiring=wiring)
                  if c.result is not None]
        for k in dict.fromkeys(key(c.entry) for c in others):
            base = stored_settings(profile, "lenet_mnist", results_root, wiring=wiring,
                                   where=lambda e, k=k: key(e) == k)
            nets = [c for c in base if c.result is not None] + [c for c in others if key(c.entry) == k]
            ref = reference.paper_row(k[0], k[1], k[2], k[3])
            for c in nets:
                pm, po = c.result.per_mask, result_oracle(c.result)
                st = scatter_stats(pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy(),
                                   oracle_y=None if po is None else po["final_test_acc"])
                lo, hi = st["tau_ci"]
                rows.append({"setting": c.label, "wiring": wiring, "seed": c.entry.seed, "N": len(pm),
                             "tau": st["kendall_tau"], "tau 95% CI": f"[{lo:+.2f}, {hi:+.2f}]",
                             "tau s.e.": st["tau_se"], "anomaly %": 100 * st["anomaly_ratio"],
                             "median acc %": 100 * float(pm["final_test_acc"].median()),
                             "paper tau": np.nan if ref is None else float(ref["kendall_tau"]),
                             "paper median acc %": np.nan if ref is None else float(ref["final_acc_median_percent"]),
                             "under-trained": below_paper(*k[:4], 100 * float(pm["final_test_acc"].median()))})
    return pd.DataFrame(rows).set_index("setting") if rows else pd.DataFrame()


@dataclass(frozen=True)
class NetworkReading:
    """One setting's networks: their taus' range and standard deviation, the between-network standard deviation
    net of the masks' noise (DerSimonian-Laird, the figure the verdicts' intervals use), the masks' mean standard
    error, Cochran's Q and p, whether the networks differ, and whether the paper's tau lies within their range (the
    pages compare it only with the released-code twins' range: the protocol the paper's code ran)."""

    setting: str
    k: int
    seeds: tuple[int, ...]
    lo: float
    hi: float
    sd_taus: float
    sd_between: float
    mean_se: float
    n_masks: int
    q: float
    p: float
    differ: bool
    paper_tau: float
    paper_within: bool | None  # None: no paper number
    wiring: str = "correct"
    left_out: tuple[int, ...] = ()  # seeds of networks far below the paper's accuracy: their tau answers nothing

    @classmethod
    def too_few(cls, setting: str, wiring: str, seeds: tuple[int, ...], left_out: tuple[int, ...], n_masks: int,
                paper_tau: float) -> NetworkReading:
        """Fewer than two converged networks: only who was left out is known; every spread, Q and p is NaN."""
        nan = float("nan")
        return cls(setting, len(seeds), seeds, nan, nan, nan, nan, nan, n_masks, nan, nan, False, paper_tau, None,
                   wiring, left_out)


def network_readings(nets: pd.DataFrame) -> list[NetworkReading]:
    """``nets``: pretrained_networks(...). One NetworkReading per setting and wiring with two or more networks: a
    network whose median final accuracy ends far below the paper's (agreement.under_trained, e.g. its retrainings
    collapse) is left out of the range, Q and spread, as every count leaves such runs out, and named (``left_out``).
    With fewer than two converged networks the reading holds only who was left out (``k`` < 2, numbers NaN)."""
    out = []
    if nets.empty:
        return out
    nets = nets if "wiring" in nets else nets.assign(wiring="correct")
    nets = nets if "under-trained" in nets else nets.assign(**{"under-trained": False})
    for (setting, wiring), every in nets.groupby([nets.index, "wiring"], sort=False):
        if len(every) < 2:
            continue
        g = every[~every["under-trained"].astype(bool)]
        left_out = tuple(int(x) for x in every[every["under-trained"].astype(bool)]["seed"])
        if len(g) < 2:
            out.append(NetworkReading.too_few(setting, wiring, tuple(int(x) for x in g["seed"]), left_out,
                                              int(every["N"].iloc[0]), float(every["paper tau"].iloc[0])))
            continue
        h = heterogeneity(list(g["tau"]), list(g["tau s.e."]))
        dl = between_network_variance([(list(g["tau"]), list(g["tau s.e."]))])
        lo, hi, theirs = float(g["tau"].min()), float(g["tau"].max()), float(g["paper tau"].iloc[0])
        out.append(NetworkReading(setting, h["k"], tuple(int(s) for s in g["seed"]), lo, hi, h["sd between"],
                                  dl["sd"], h["mean se"], int(g["N"].iloc[0]), h["Q"], h["p"],
                                  h["p"] < HETEROGENEITY_P, theirs,
                                  within_networks_range(theirs, list(g["tau"])), wiring, left_out))
    return out
