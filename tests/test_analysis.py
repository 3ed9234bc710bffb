import numpy as np
import pytest
from scipy.stats import kendalltau

from oracle_core.analysis import agreement, reference
from oracle_core.compute import stats


def test_anomaly_ratio_counts_strictly_better_masks_over_all_n():
    x = np.array([0.5, 0.1, 0.9, 0.3, 0.7])  # oracle = index 1
    acc = np.array([0.90, 0.80, 0.85, 0.80, 0.70])
    loss = np.array([0.2, 0.3, 0.3, 0.1, 0.5])
    st = stats.analyze(x, acc, loss)
    assert st["oracle_index"] == 1
    assert st["anomaly_ratio"] == pytest.approx(2 / 5)  # 0.90, 0.85 beat 0.80; the tie 0.80 does not
    assert st["anomaly_ratio_loss"] == pytest.approx(2 / 5)  # 0.2 and 0.1 are lower than 0.3
    tau, p = kendalltau(x, acc)
    assert st["kendall_tau"] == pytest.approx(tau) and st["p_value"] == pytest.approx(p)


def test_oracle_tie_takes_the_first_mask():
    assert stats.oracle_index(np.array([0.3, 0.1, 0.1])) == 1


@pytest.mark.parametrize("panel", sorted(p for p in reference.panels()["panel"] if not p.startswith("direction/")))
def test_our_analysis_of_the_paper_points_reproduces_its_printed_numbers(panel):
    pts = reference.paper_points(panel)
    row = reference.paper_panel(panel)
    st = stats.analyze(pts["pruned_train_loss"].to_numpy(), pts["final_test_acc"].to_numpy())
    assert round(st["kendall_tau"], 2) == pytest.approx(row["printed_tau"], abs=1e-9)
    assert abs(100 * st["anomaly_ratio"] - row["printed_anomaly_percent"]) <= 1.0


def test_summary_keys():
    import pandas as pd

    pm = pd.DataFrame({"mask_id": list("abcd"), "kept": list("abcd"), "pruned_train_loss": [1.0, 0.5, 2.0, 3.0],
                       "pruned_train_acc": [0.5] * 4, "final_test_acc": [0.9, 0.8, 0.85, 0.7],
                       "final_test_loss": [0.3, 0.4, 0.35, 0.6], "final_train_loss": [0.1] * 4, "repeats": [1] * 4})
    s = stats.summarize(pm)
    assert s["oracle_mask_id"] == "b" and s["anomaly_ratio"] == 0.5 and s["oracle_acc_rank"] == 3


def test_constant_accuracies_give_an_undefined_tau_that_reports_cleanly():
    import pandas as pd

    from oracle_core.experiment.results import StudyResult
    from oracle_core.experiment.spec import make_spec
    from oracle_core.pages import setting

    pm = pd.DataFrame({"mask_id": list("abc"), "kept": list("abc"), "pruned_train_loss": [1.0, 0.5, 2.0],
                       "pruned_train_acc": [0.5] * 3, "final_test_acc": [0.985] * 3, "final_test_loss": [0.3] * 3,
                       "final_train_loss": [0.1] * 3, "repeats": [1] * 3})
    s = stats.summarize(pm)
    assert s["kendall_tau"] is None and s["anomaly_ratio"] == 0.0
    assert agreement.oracle_fails(s["kendall_tau"], s["p_value"], s["anomaly_ratio"])
    res = StudyResult(make_spec(profile="smoke"), None, pm, pm, s, {}, pd.DataFrame())
    assert setting.comparison_table(res).loc["ours (smoke)", "p"] == "n/a"
    assert "undefined" in setting.disagreement(res)


def test_bootstrap_interval_is_seeded_contains_the_estimate_and_narrows_with_more_masks():
    from oracle_core.compute.stats import analyze, bootstrap

    rng = np.random.default_rng(1)
    x = rng.normal(size=400)
    acc = -0.5 * x + rng.normal(size=400)
    full = analyze(x, acc)
    ci = bootstrap(x, acc)
    assert ci == bootstrap(x, acc)  # seeded
    assert ci["kendall_tau"][0] < full["kendall_tau"] < ci["kendall_tau"][1]
    assert 0 <= ci["anomaly_ratio"][0] <= ci["anomaly_ratio"][1] <= 1
    small = bootstrap(x[:50], acc[:50])
    def width(c):
        return c["kendall_tau"][1] - c["kendall_tau"][0]

    assert width(small) > 1.5 * width(ci)
    perfect = bootstrap(np.arange(30.0), -np.arange(30.0))
    assert np.allclose(perfect["kendall_tau"], (-1.0, -1.0)) and perfect["anomaly_ratio"] == (0.0, 0.0)


def test_tau_standard_error_is_the_bootstraps_spread_and_shrinks_with_more_masks():
    from oracle_core.compute.stats import bootstrap

    def tau_standard_error(x, acc):
        return bootstrap(x, acc)["kendall_tau_se"]

    rng = np.random.default_rng(2)
    x = rng.normal(size=400)
    acc = -0.5 * x + rng.normal(size=400)
    se = tau_standard_error(x, acc)
    assert se == tau_standard_error(x, acc) and 0 < se < 0.1  # seeded; tau's s.e. is about 0.03 at N = 400
    assert tau_standard_error(x[:45], acc[:45]) > 2 * se  # roughly 1 / sqrt(N)
    assert tau_standard_error(np.arange(30.0), -np.arange(30.0)) < 1e-12  # every resample ranks perfectly


def test_heterogeneity_tells_estimates_that_differ_from_ones_within_their_errors():
    from oracle_core.analysis.uncertainty import heterogeneity

    same = heterogeneity([-0.27, -0.25, -0.29], [0.12, 0.12, 0.12])
    assert same["k"] == 3 and same["p"] > 0.5 and same["Q"] < 1
    apart = heterogeneity([-0.27, 0.18], [0.12, 0.12])  # 0.45 apart, each +-0.12
    assert apart["Q"] == pytest.approx(0.45 ** 2 / (2 * 0.12 ** 2)) and apart["p"] < 0.01
    assert apart["sd between"] == pytest.approx(0.45 / np.sqrt(2)) and apart["mean se"] == pytest.approx(0.12)
    with pytest.raises(ValueError, match="two or more estimates"):
        heterogeneity([-0.2], [0.1])
    with pytest.raises(ValueError, match="positive standard error"):
        heterogeneity([-0.2, 0.1], [0.1, 0.0])


def test_under_trained_is_a_median_more_than_one_point_below_the_papers():
    from oracle_core.analysis.agreement import UNDERTRAINED_PP, under_trained

    assert UNDERTRAINED_PP == 1.0
    assert under_trained(97.0, 98.47) and not under_trained(97.6, 98.47) and not under_trained(99.0, 98.47)
    assert not under_trained(None, 98.0) and not under_trained(float("nan"), 98.0)


def test_a_verdict_reads_one_way_on_every_page():
    """The one verdict text (the summary's table, the figure pages' tables): agreement against the interval, never a
    fixed threshold; the twin named when it is what was compared; under-trained by its median gap."""
    from oracle_core.analysis.like_for_like import Verdict

    twin = Verdict("agrees", -0.36, -0.51, 0.15, 0.85, twin=True)
    assert twin.text == "agrees (+0.15 within ±0.85, released-code twin)"
    assert Verdict("differs", -0.10, -0.51, 0.41, 0.30).text == "differs (+0.41 beyond ±0.30)"
    assert Verdict("under-trained", median_gap_pp=-3.47).text == "under-trained (median -3.5 pp vs the paper's)"
    assert Verdict("not run yet").text == "not run yet"


def test_repeat_taus_measure_reproducibility_and_the_attenuation_of_one_retraining():
    import numpy as np
    import pandas as pd
    from scipy.stats import kendalltau

    from oracle_core.analysis.uncertainty import repeat_taus

    rng = np.random.default_rng(0)
    n, loss = 60, np.linspace(0.1, 2.0, 60)
    rows = [{"mask_id": f"m{i}", "repeat": r, "pruned_train_loss": loss[i],
             "final_test_acc": 0.95 - 0.01 * loss[i] + 0.01 * rng.standard_normal()}
            for r in range(3) for i in range(n)]
    t = repeat_taus(pd.DataFrame(rows))
    wide = pd.DataFrame(rows).pivot_table(index="mask_id", columns="repeat", values="final_test_acc")
    lo = pd.Series(loss, index=[f"m{i}" for i in range(n)]).loc[wide.index]
    assert t["N"] == 60 and t["repeats"] == 3
    assert np.isclose(t["tau pruned loss vs mean of repeats"], kendalltau(lo, wide.mean(axis=1)).statistic)
    single = np.mean([kendalltau(lo, wide[r]).statistic for r in range(3)])
    assert np.isclose(t["tau pruned loss vs one retraining"], single)
    # noise independent per retraining: averaging 3 strengthens the correlation, one retraining attenuates it
    assert t["tau pruned loss vs mean of repeats"] < single < 0 and 0 < t["attenuation by one retraining"] < 1
    assert np.isclose(t["attenuation by one retraining"],
                      1 - abs(single) / abs(t["tau pruned loss vs mean of repeats"]))


def test_the_paper_is_within_our_networks_range_by_one_rule():
    """Both readings that set the paper's tau against our networks (the networks section and a differing setting's
    check) go through this one rule: ends included, no verdict without a paper number or without networks."""
    from oracle_core.analysis.uncertainty import within_networks_range

    assert within_networks_range(-0.2, [-0.4, -0.2]) is True
    assert within_networks_range(0.24, [-0.42, 0.05, -0.1]) is False
    assert within_networks_range(None, [0.1, 0.2]) is None and within_networks_range(float("nan"), [0.1]) is None
    assert within_networks_range(0.1, []) is None
