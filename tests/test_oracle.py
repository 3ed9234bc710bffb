"""The paper's oracle (analysis/oracle.py): the argmin of pruned train loss over the whole candidate set, read against
the retrained sample, on a fabricated case where it and the sample's own argmin are different masks."""

import numpy as np
import pandas as pd

from oracle_core.analysis.oracle import anomaly_interval, oracle_row, paper_oracle
from oracle_core.analysis.panel import scatter_stats
from oracle_core.compute.stats import per_mask, summarize


def _case():
    """Six sampled masks; the sample's argmin (m0, loss 0.5) ends badly; the paper's oracle (g, loss 0.1, not in the
    sample, retrained beside it as a criteria pick) ends at 0.975: two sampled masks end strictly above it."""
    rows = pd.DataFrame({"mask_id": [f"m{i}" for i in range(6)], "kept": ["conv1:0"] * 6, "repeat": 0, "seed": 1,
                         "pruned_train_loss": [0.5, 0.9, 1.2, 0.7, 2.0, 1.5],
                         "pruned_train_acc": 0.5, "final_test_acc": [0.960, 0.980, 0.975, 0.990, 0.970, 0.965],
                         "final_test_loss": [0.2, 0.1, 0.12, 0.05, 0.15, 0.18], "final_train_loss": 0.1,
                         "best_epoch": 3})
    picks = pd.DataFrame([{**rows.iloc[0].to_dict(), "mask_id": "g", "kept": "conv1:9", "pruned_train_loss": 0.1,
                           "final_test_acc": 0.975, "final_test_loss": 0.11, "criterion": "L1 & oracle"}])
    pm = per_mask(rows)
    summary = {**summarize(pm), "candidates": 252, "global_oracle_mask_id": "g", "global_oracle_kept": "conv1:9",
               "global_oracle_pruned_train_loss": 0.1, "global_oracle_final_test_acc": 0.975,
               "global_oracle_acc_rank": int((pm["final_test_acc"] > 0.975).sum()) + 1}
    return pm, picks, summary


def test_the_papers_oracle_is_the_argmin_over_every_candidate_not_over_the_sample():
    pm, picks, summary = _case()
    po = paper_oracle(summary, pm["final_test_acc"].to_numpy())
    assert po.mask_id == "g" and po.scope == "all candidates" and po.candidates == 252 and po.n == 6
    assert po.rank == 3 and np.isclose(po.anomaly_ratio, 2 / 6)  # 0.980 and 0.990 end strictly above 0.975
    # the sample's own argmin (m0 at 0.960) is beaten by five of the six: a different, weaker reading
    assert po.within_mask_id == "m0" and po.within_rank == 6 and np.isclose(po.within_anomaly_ratio, 5 / 6)
    assert po.differs_from_within
    lo, hi = po.anomaly_ci
    assert 0 <= lo <= po.anomaly_ratio <= hi <= 1 and hi > lo


def test_a_run_that_retrained_every_candidate_has_one_oracle():
    pm, _, summary = _case()
    exhaustive = {k: v for k, v in summary.items() if not k.startswith("global_")} | {"candidates": 6}
    po = paper_oracle(exhaustive)
    assert po.mask_id == po.within_mask_id == "m0" and po.scope == "all candidates"
    assert po.anomaly_ratio == exhaustive["anomaly_ratio"] and not po.differs_from_within


def test_the_panel_reads_anomalies_against_the_papers_oracle_and_marks_the_samples_argmin():
    pm, picks, summary = _case()
    row = oracle_row(summary, pm, picks)
    assert row["mask_id"] == "g" and row["pruned_train_loss"] == 0.1 and row["final_test_acc"] == 0.975
    x, y = pm["pruned_train_loss"].to_numpy(), pm["final_test_acc"].to_numpy()
    st = scatter_stats(x, y, oracle_y=row["final_test_acc"])
    assert st["roles"] == ["other", "anomaly", "other", "anomaly", "other", "other"]  # no sampled mask is the oracle
    assert np.isclose(st["anomaly_ratio"], 2 / 6) and st["within_index"] == 0 and st["oracle_rank"] == 3
    plain = scatter_stats(x, y)  # without it: the sample's argmin is the star, as for the paper's own points
    assert plain["roles"][0] == "oracle" and np.isclose(plain["anomaly_ratio"], 5 / 6)
    assert st["kendall_tau"] == plain["kendall_tau"]  # tau is over the sample either way
    # lower-is-better outcome: anomalies are the masks whose test loss is below the oracle's
    st_loss = scatter_stats(x, pm["final_test_loss"].to_numpy(), higher_is_better=False, oracle_y=0.11)
    assert st_loss["roles"] == ["other", "anomaly", "other", "anomaly", "other", "other"]


def test_the_anomaly_interval_is_seeded_and_brackets_the_share():
    acc = np.array([0.96, 0.98, 0.975, 0.99, 0.97, 0.965] * 5)
    a, b = anomaly_interval(acc, 0.975), anomaly_interval(acc, 0.975)
    assert a == b and a[0] <= (acc > 0.975).mean() <= a[1]
    assert anomaly_interval(acc, 1.0) == (0.0, 0.0)


def test_the_agreement_interval_covers_95_percent_when_the_network_moves_tau():
    """Simulated settings with a known between-network sd (0.25) and mask noise (se 0.1): tau^2 estimated by
    DerSimonian-Laird from 6 settings x 3 networks; the interval for (ours - paper) from the same protocol covers
    about 95% of draws. Without the network term (tau^2 = 0) it covers far fewer: the check can fail."""
    from oracle_core.analysis.uncertainty import agreement_halfwidth, between_network_variance
    rng = np.random.default_rng(1)
    sd_net, se = 0.25, 0.1
    hit, hit_masks_only, est = 0, 0, []
    sims = 2000
    for _ in range(sims):
        groups = []
        for _setting in range(6):
            mu = rng.uniform(-0.6, 0.2)
            taus = mu + rng.normal(0, sd_net, 3) + rng.normal(0, se, 3)
            groups.append((list(taus), [se] * 3))
        tau2 = between_network_variance(groups)["tau2"]
        est.append(tau2)
        ours, paper = (rng.normal(0, sd_net) + rng.normal(0, se) for _ in range(2))
        hit += abs(ours - paper) <= agreement_halfwidth(se, se, tau2)
        hit_masks_only += abs(ours - paper) <= agreement_halfwidth(se, se, 0.0)
    assert 0.91 <= hit / sims <= 0.985, hit / sims
    assert hit_masks_only / sims < 0.75
    assert abs(np.mean(est) - sd_net ** 2) < 0.02  # DerSimonian-Laird recovers the simulated variance
