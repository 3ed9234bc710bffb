"""Criteria that pick a mask: L1 and Taylor follow their definitions; compare() reads picks off stored results."""

import numpy as np
import pytest
import torch

from oracle_core.analysis import criteria, stored
from oracle_core.compute import scoring
from oracle_core.models import build_model


def _model():
    torch.manual_seed(0)
    return build_model("lenet5_mini", 1, 10)


def test_l1_keeps_the_filters_with_the_largest_mean_magnitude():
    m = _model()
    with torch.no_grad():
        for i in range(10):
            m.conv1.weight[i] = (i + 1) * 0.01 * torch.sign(torch.randn_like(m.conv1.weight[i]))
    assert scoring.l1_mask(m, ("conv1",), 0.5).as_dict() == {"conv1": (5, 6, 7, 8, 9)}
    assert scoring.l1_mask(m, ("conv1",), 0.7).as_dict() == {"conv1": (7, 8, 9)}  # int(10 * 0.7) = 7 removed


def test_taylor_scores_a_dead_filter_zero_and_never_keeps_it():
    m = _model()
    with torch.no_grad():
        for dead in (2, 4, 6):
            m.conv2.weight[dead] = 0.0
            m.conv2.bias[dead] = 0.0
    x, y = torch.randn(300, 1, 32, 32), torch.randint(0, 10, (300,))
    sc = scoring.taylor_scores(m, ("conv1", "conv2"), x, y, batch_size=128)
    assert sc["conv2"].shape == (10,) and all(sc["conv2"][d] == 0 for d in (2, 4, 6))
    assert (sc["conv1"] > 0).all()
    kept = scoring.taylor_mask(sc, 0.3).as_dict()["conv2"]
    assert len(kept) == 7 and not {2, 4, 6} & set(kept)
    assert all(p.grad is None or True for p in m.parameters())  # scoring leaves the model usable


def test_compare_reads_every_criterion_off_a_stored_setting(smoke_grid):
    [c] = stored.stored_settings("smoke", "lenet_mnist", smoke_grid,
                                 where=lambda e: e.layers == "conv1" and e.ratio == 0.5)
    x, y = torch.randn(64, 1, 32, 32), torch.randint(0, 10, (64,))
    t = criteria.compare(c.result, x, y)
    acc = c.result.per_mask["final_test_acc"].to_numpy()
    oracle = t.loc["oracle (lowest pruned train loss)"]
    assert oracle["pick"] == c.result.summary["oracle_kept"]
    assert oracle["rank (1 = best)"] == c.result.summary["oracle_acc_rank"]
    assert t.loc["random (expectation)", "regret (pp)"] == pytest.approx(100 * (acc.max() - acc.mean()))
    inside = ~t["how"].str.contains("outside the sample")
    assert (t.loc[inside, "regret (pp)"].dropna() >= 0).all()
    assert len(t) == 6 and t.attrs["n_masks"] == len(acc)


def test_a_sampled_setting_retrains_the_criteria_picks_beside_its_sample(smoke_grid):
    """conv1+conv2 @ 0.5 is sampled (6 of 63,504 masks at smoke): the L1 and Taylor picks are not in the sample,
    so the runner retrains them too, keeps them out of masks.csv (the paper's analysis), and compare ranks them."""
    [c] = stored.stored_settings("smoke", "lenet_mnist", smoke_grid, where=lambda e: e.layers == "conv1+conv2")
    res = c.result
    assert res.spec.criteria_picks and res.spec.n_masks == len(res.per_mask) == 6
    picks = res.criteria_picks
    l1 = scoring.l1_mask(criteria.dense_of(res), res.spec.layers, res.spec.ratio).text
    assert l1 in set(picks["kept"]) and l1 not in set(res.per_mask["kept"])
    assert {"L1", "Taylor"} <= {n for names in picks["criterion"] for n in names.split(" & ")}
    assert picks["final_test_acc"].between(0, 1).all() and picks["pruned_train_loss"].notna().all()
    assert not set(picks["mask_id"]) & set(res.masks["mask_id"])
    t = criteria.compare(res)
    acc = res.per_mask["final_test_acc"].to_numpy()
    row = t.loc["L1 magnitude (largest mean |w|)"]
    a = float(picks.loc[picks["kept"] == l1, "final_test_acc"].mean())
    assert row["pick"] == l1 and "outside the sample" in row["how"]
    assert row["final acc %"] == pytest.approx(100 * a) and row["rank (1 = best)"] == int((acc > a).sum()) + 1
    assert "first-order Taylor" in t.index and np.isfinite(t.loc["first-order Taylor", "final acc %"])


def _fake_result(tmp_path):
    """A stored-looking smoke result of 5 masks (no training): what compare reads."""
    import pandas as pd

    from oracle_core.compute import stats
    from oracle_core.experiment.results import StudyResult
    from oracle_core.experiment.spec import make_spec
    from oracle_core.experiment.store import MASK_COLUMNS

    spec = make_spec(profile="smoke", layers="conv1", ratio=0.5)
    rng = np.random.default_rng(0)
    masks = pd.DataFrame({"mask_id": [f"m{i}" for i in range(5)], "kept": [f"conv1:{i}" for i in range(5)],
                          "repeat": 0, "seed": 1, "pruned_train_loss": rng.uniform(1, 2, 5),
                          "pruned_train_acc": [0.5, 0.9, 0.1, 0.3, 0.2], "final_test_acc":
                          [0.90, 0.95, 0.97, 0.91, 0.92],
                          "final_test_loss": 0.3, "final_train_loss": 0.2, "best_epoch": 2})[MASK_COLUMNS]
    curves = pd.DataFrame([{"mask_id": m, "repeat": 0, "epoch": e, "test_acc": a - 0.01 * (2 - e), "test_loss": 0.3,
                            "train_loss": 0.5 / e} for m, a in zip(masks["mask_id"], masks["final_test_acc"])
                           for e in (1, 2)])
    picks = pd.DataFrame({"kept": ["conv1:0", "conv1:9"], "final_test_acc": [0.90, 0.93], "criterion": ["L1", "Taylor"],
                          "mask_id": ["m0", "m9"]})
    return StudyResult(spec, tmp_path, masks, stats.per_mask(masks), {}, {}, curves, picks)


def test_a_new_criterion_is_one_registry_entry_and_appears_in_the_comparison(tmp_path, monkeypatch):
    """Register a toy criterion (keep the mask with the highest pruned train accuracy): compare gives it a row with
    its pick's final accuracy, rank and regret, after the built-in ones; unregistered, the row is gone."""
    res = _fake_result(tmp_path)
    before = criteria.compare(res)
    assert "highest pruned train acc" not in before.index
    monkeypatch.setitem(criteria.CRITERIA, "toy", criteria.Criterion(
        name=lambda s: "highest pruned train acc",
        pick=lambda s: int(np.argmax(s.pm["pruned_train_acc"].to_numpy())),
        cost=lambda s: s.n * 7, how=lambda s: "reads the pruned table"))
    t = criteria.compare(res)
    row = t.loc["highest pruned train acc"]
    assert list(t.index[:-1]) == list(before.index) and t.index[-1] == "highest pruned train acc"
    assert row["pick"] == "conv1:1" and row["final acc %"] == pytest.approx(95.0)
    assert row["rank (1 = best)"] == 2 and row["regret (pp)"] == pytest.approx(2.0)
    assert row["cost (model-images)"] == 35 and row["how"] == "reads the pruned table"
    # the built-in rows read the same fake setting: L1's stored pick is inside the sample, Taylor's beside it
    assert t.loc["L1 magnitude (largest mean |w|)", "rank (1 = best)"] == 5
    assert "outside the sample" in t.loc["first-order Taylor", "how"]
    assert t.loc["first-order Taylor", "final acc %"] == pytest.approx(93.0)
